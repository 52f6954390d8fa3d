"""Learning-rate search: one Optuna study (TPE) per searched configuration, run by a Hydra
sweeper (`hparams_search=lr`, conf/hparams_search/lr.yaml).

    python -m rnnmem.train hparams_search=lr model.cell=rnn,lstm,gru,irnn,orth task=copy \\
        hydra.sweeper.n_trials=8 hydra.sweep.dir=sweeps/lr-copy

Every combination of the swept overrides (here each cell) gets its own study; each trial is a
normal run of `rnnmem.train` at lr = exp(u), u drawn by TPE in [ln lr_low, ln lr_high], with
`optim.lr_by_cell` cleared so that the trial's lr is the one that trains. The objective is the
run's last validation metric (`MemoryTask.metric`: copy recall accuracy, adding MSE), maximised
or minimised as the task's `higher_is_better` says; `rnnmem.train.main` returns it to Hydra. A
trial whose run fails or diverges is a failed trial and counts towards n_trials; a stop signal
(SIGTERM, SIGUSR1/2) ends the search with its trial still running.

The studies live in SQLite, `<sweep dir>/optuna.db` (the folder is made before the study is
opened): a stopped search resumes with the same command and sweep directory. A trial that was
running when the search stopped is marked failed and its lr asked again first, so its run
resumes from its own checkpoint (a run is its config). At the end, `<sweep dir>/lr_search.yaml`
holds each study's best lr and value and, where each cell was searched once, the mapping to
feed a sweep: `optim: {lr_by_cell: {...}}`.

Built on Optuna's current API (optuna >= 4) rather than hydra-optuna-sweeper 1.3, which pins
optuna < 3 and with it SQLAlchemy < 2 and alembic < 1.14 (and is not among this machine's
packages).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from hydra.experimental.callback import Callback
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from rnnmem.config import ConfigError
from rnnmem.grid import expand, swept_keys
from rnnmem.preflight import preflight
from rnnmem.rundir.paths import SweepDir
from rnnmem.tasks import TASKS

if TYPE_CHECKING:
    import optuna

FAILED_RUN = "run_failed"  # user attribute of a trial whose run failed or diverged


def combinations(arguments: list[str]) -> list[tuple[list[str], str]]:
    """Every combination of the command line's overrides, sweeps (a,b,c) expanded as Hydra's
    basic sweeper expands them, with its study name: the swept overrides' values ('default'
    where nothing is swept)."""
    swept = swept_keys(arguments)
    return [(job, " ".join(o for o in job if o.partition("=")[0] in swept) or "default")
            for job in expand(arguments)]


class SearchMonitor(Callback):
    """The search's Hydra callback (instead of the sweep's `SweepMonitor`, whose summary is of
    a grid known in advance): a bad value every trial shares stops it before any trial."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            preflight(config, wandb=False)
        except ConfigError as err:
            print(f"rnnmem: error: {err}", file=sys.stderr, flush=True)
            sys.exit(2)


class LrSearch:
    """The sweeper's logic (the Hydra plugin `hydra_plugins.rnnmem_lr_search` wraps it):
    `n_trials` trials per combination, lr log-uniform in [lr_low, lr_high], TPE seeded by
    `seed`."""

    def __init__(self, n_trials: int, lr_low: float, lr_high: float, seed: int = 0,
                 n_startup_trials: int = 4) -> None:
        if not 0 < lr_low < lr_high:
            raise ValueError(f"need 0 < lr_low < lr_high, got {lr_low}, {lr_high}")
        self.n_trials, self.lr_low, self.lr_high = n_trials, lr_low, lr_high
        self.seed, self.n_startup_trials = seed, n_startup_trials
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> list[dict[str, Any]]:
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)  # SQLite needs the folder first
        storage = f"sqlite:///{SweepDir(sweep_dir).optuna_storage.resolve()}"
        results = [self._search(combo, name, storage)
                   for combo, name in combinations(arguments)]
        write_results(SweepDir(sweep_dir).lr_search, results)
        return results

    def _search(self, combo: list[str], name: str, storage: str) -> dict[str, Any]:
        import optuna  # here, so that a training run does not import it for `objective_of`

        from rnnmem.training.preemption import STOP  # a stop signal ends the search

        job = self.hydra_context.config_loader.load_sweep_config(self.config, combo)
        task = TASKS[job.task.name]
        direction = "maximize" if task.higher_is_better else "minimize"
        study = optuna.create_study(
            study_name=name, storage=storage, direction=direction, load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=self.seed,
                                               n_startup_trials=self.n_startup_trials))
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)  # stopped: ask again
            study.enqueue_trial(trial.params)
        while done(study) < self.n_trials:
            trial = study.ask()
            lr = trial.suggest_float("lr", self.lr_low, self.lr_high, log=True)
            overrides = [*combo, f"optim.lr={lr!r}", "optim.lr_by_cell=null"]
            (ret,) = self.launcher.launch([overrides], initial_job_idx=self.job_idx)
            self.job_idx += 1
            value = ret._return_value if ret.status.name == "COMPLETED" else None
            if STOP.received is not None:
                break  # the trial stays running: the resumed search asks its lr again
            if value is None or not math.isfinite(value):
                trial.set_user_attr(FAILED_RUN, True)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, value)
        complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        best = study.best_trial if complete else None
        return {"study": name, "overrides": combo, "cell": str(job.model.cell),
                "task": str(job.task.name),
                "metric": f"val_{task.metric}", "direction": direction,
                "trials": len(complete), "best_lr": best.params["lr"] if best else None,
                "best_value": best.value if best else None}


def done(study: optuna.Study) -> int:
    """Trials that count towards n_trials: complete ones, and those whose run failed."""
    import optuna

    return sum(1 for trial in study.get_trials(deepcopy=False)
               if trial.state == optuna.trial.TrialState.COMPLETE
               or trial.user_attrs.get(FAILED_RUN))


def write_results(path: Path, results: list[dict[str, Any]]) -> None:
    """`lr_search.yaml`: every study's outcome and, where each cell was searched once, the
    `optim.lr_by_cell` mapping that feeds a sweep."""
    cells = [r["cell"] for r in results if r["best_lr"] is not None]
    content: dict[str, Any] = {"searches": results}
    if cells and len(cells) == len(set(cells)):
        content["optim"] = {"lr_by_cell": {r["cell"]: float(f"{r['best_lr']:.3g}")
                                           for r in results if r["best_lr"] is not None}}
    path.write_text(yaml.safe_dump(OmegaConf.to_container(OmegaConf.create(content)),
                                   sort_keys=False))
