"""Learning-rate search: one Optuna study (TPE) per searched question, run by a Hydra sweeper
(`hparams_search=lr`, conf/hparams_search/lr.yaml).

    python -m rnnmem.train hparams_search=lr model.cell=rnn,lstm,gru,irnn,orth task=copy \\
        hydra.sweeper.n_trials=8 hydra.sweep.dir=sweeps/lr-copy

Every combination of the swept overrides (here each cell) asks its own question, and each
question is one study. A trial is a normal run of `rnnmem.train` at lr = exp(u), u drawn by TPE
in [ln lr_low, ln lr_high], with `optim.lr_by_cell` cleared so that the trial's lr is the one
that trains (the per-role factors, `optim.lr_scale`, stay as the command line sets them: they
scale the searched lr). Its value is the run's last validation value of the task's metric
(`rnnmem.reporting.records.objective_of`, read from the run's record: copy recall accuracy,
maximised; adding MSE, minimised, as the task's `higher_is_better` says). A trial whose run
fails or diverges fails, and counts towards `n_trials`.

A study is a function of its question (`Question`): the identity config of its runs
(`rnnmem.rundir.identity`: task, T, cell, sizes, steps, data, probe... and seed) less the lr
keys the search sets, the metric, the direction, the lr range and the source digest of the code
(`rnnmem.rundir.code`). The study's name is `lr-` and 16 hex digits of that question's sha256;
the question itself and the swept values that asked it are the study's user attributes, and a
study found under that name is compared with them before it is used (a study of another
question under it is refused in one line). Another question in the same directory (another T,
task, size, or the same search after a code edit) is therefore another study beside the first:
the choice made here is a new study rather than a refusal, since one directory may hold a
search's several questions (its cells); the search says, in one line, which other questions the
directory holds, and its outcome lists its own studies only. A code edit that finds runs of the
old code where the new search will run is refused up front, as a sweep refuses it
(`on_code_change`: `error`, one line; `rerun` trains them again; `keep` keeps their values).

The studies live in SQLite, `<sweep dir>/optuna.db`, and several searches may run on one
directory at once (workers sharing one study, e.g. several jobs on a cluster):

- one lock for the storage (`<sweep dir>/.lr_search/search.lock`, flock) is held while a
  process creates or opens the storage and a study, counts a study's trials and asks or claims
  the next one, and writes the outcome, so that no two processes ask past `n_trials` and the
  last outcome written holds every result told before it;
- each trial being run holds its own lock (`.lr_search/<study>-<number>.lock`) from its ask
  until its value is told. A trial that is RUNNING in the storage but whose lock is free lost
  its process (SIGKILL, a node gone): the next search that starts claims it and runs it again
  at the same lr (its run resumes from its checkpoint), unless its run directory's lock
  (`rnnmem.rundir.lock`) shows that the run is still being trained elsewhere. No process ever
  fails another's trial;
- the sampler's state follows the stored trials: trial n is asked of a TPE sampler seeded by
  (`seed`, n) and the trials stored before it, so that a resumed or extended search continues
  the sequence an uninterrupted one would have asked, and never asks a trial's lr again.

Trials run one at a time, in this process (the local launcher's `n_jobs` is set to 1, and each
trial's torch threads to every core); parallel trials are parallel searches on one directory.
SIGINT or SIGTERM stops the search at its next safe point: a trial that is training checkpoints
and stays RUNNING (the same command resumes it), the outcome is written, and the search exits
with 128 + the signal. A storage that cannot be opened or written (a garbage or truncated
`optuna.db`, a read-only or full directory) is one line, exit 1.

The outcome, for this search's studies: `lr_search.yaml` (each study's question, trials, best lr
and value, and the lr window in which trials solved the task; where each cell was searched once,
the mapping to feed a sweep, `optim: {lr_by_cell: {...}}`), `lr_search.md` and `lr_search.png`/
`.pdf` (every trial: `rnnmem.reporting.lr_window` and its figure), each written atomically.

Built on Optuna's current API (optuna >= 4) rather than hydra-optuna-sweeper 1.3, which pins
optuna < 3 and with it SQLAlchemy < 2 and alembic < 1.14 (and is not among this machine's
packages).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import signal
import sys
from collections import Counter
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml
from hydra.experimental.callback import Callback
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from rnnmem.config import ConfigError
from rnnmem.grid import expand, swept_keys
from rnnmem.preflight import preflight
from rnnmem.reporting.lr_window import TRIAL_COLUMNS, lr_window_markdown, study_summaries
from rnnmem.reporting.records import objective_of
from rnnmem.rundir.atomic import remove_stale, write_text_atomically
from rnnmem.rundir.checkpoint import checkpoint_stamp
from rnnmem.rundir.code import code_identity, describe, other_code, source_digest
from rnnmem.rundir.identity import config_differences, hash_of, identity_config, run_hash
from rnnmem.rundir.lock import lock_held
from rnnmem.rundir.paths import RunDir, SweepDir
from rnnmem.rundir.record import COMPLETE, CorruptRecord, read_record
from rnnmem.sweeps.launcher import STOP as SEARCH_STOP
from rnnmem.sweeps.monitor import one_line, storage_error
from rnnmem.tasks import TASKS
from rnnmem.training import preemption

if TYPE_CHECKING:
    import optuna

LR_KEYS = ("optim.lr", "optim.lr_by_cell")  # what the search sets in each trial's run
RUN_DIR = "run_dir"  # a trial's user attribute: its run directory, relative to the sweep's
QUESTION = "question"  # a study's user attributes: its question, the swept values that asked
COMBINATION = "combination"  # it ('default' where nothing is swept) and the overrides of the
OVERRIDES = "overrides"  # combination


class SearchRefusal(Exception):
    """Why the search does not start or go on: one line, and its exit code."""

    def __init__(self, line: str, exit_code: int = 2) -> None:
        super().__init__(line)
        self.exit_code = exit_code


def combinations(arguments: list[str]) -> list[tuple[list[str], str]]:
    """Every combination of the command line's overrides, sweeps (a,b,c) expanded as Hydra's
    basic sweeper expands them, with its label: the swept overrides' values ('default' where
    nothing is swept)."""
    swept = swept_keys(arguments)
    return [(job, " ".join(o for o in job if o.partition("=")[0] in swept) or "default")
            for job in expand(arguments)]


def without_lr(identity: dict[str, Any]) -> dict[str, Any]:
    """An identity config less the keys that the search sets (LR_KEYS)."""
    config = json.loads(json.dumps(identity))
    for key in LR_KEYS:
        section, leaf = key.split(".")
        if isinstance(config.get(section), dict):
            config[section].pop(leaf, None)
    return config


@dataclass(frozen=True)
class Question:
    """What one study answers: at which lr in [lr_low, lr_high] do runs of `config` (their
    identity config less the lr keys) reach their best `metric` (maximised or minimised:
    `direction`), with the code of `source_digest`."""

    config: dict[str, Any]
    metric: str
    direction: str
    lr_low: float
    lr_high: float
    source_digest: str

    @classmethod
    def of(cls, job: DictConfig, lr_low: float, lr_high: float) -> Question:
        """The question of the runs that the composed trial config `job` starts."""
        task = TASKS[job.task.name]
        return cls(without_lr(identity_config(job)), f"val_{task.metric}",
                   "maximize" if task.higher_is_better else "minimize", float(lr_low),
                   float(lr_high), source_digest())

    def as_dict(self) -> dict[str, Any]:
        return {"config": self.config, "metric": self.metric, "direction": self.direction,
                "lr_range": [self.lr_low, self.lr_high], "source_digest": self.source_digest}

    @property
    def study_name(self) -> str:
        return f"lr-{hash_of(self.as_dict())[:16]}"


def question_differences(stored: dict[str, Any], question: Question) -> list[str]:
    """The keys in which a stored question differs from `question` ('task.seq_len',
    'source_digest', ...)."""
    keys = config_differences(stored, question.as_dict())
    return [key.removeprefix("config.") for key in keys]


@dataclass(frozen=True)
class Plan:
    """One study of this search: the combination's overrides and label, and its question."""

    combo: tuple[str, ...]
    label: str
    question: Question


class FileLock:
    """An exclusive flock on `path`, which the kernel drops when its holder exits, however it
    exits: `acquire(wait)` (False when another process holds it and `wait` is False),
    `release(remove)`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self, wait: bool) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self, remove: bool = False) -> None:
        """Give the lock back; with `remove`, delete its file first (a trial's, once told:
        a process that opens the name afterwards finds the trial no longer running)."""
        if self._fd is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FileLock:
        self.acquire(wait=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class Claim:
    """A trial this process runs: its number, lr and overrides, its run directory and that
    run's config hash, its lock, and whether it was claimed from a process that died."""

    number: int
    lr: float
    overrides: list[str]
    run_dir: Path
    config_hash: str
    lock: FileLock
    resumed: bool


@dataclass(frozen=True)
class Outcome:
    """What a trial's run left: its objective, or None and why (failed, diverged)."""

    value: float | None
    reason: str = ""


def trial_seed(seed: int, number: int) -> int:
    """The sampler's seed for trial `number` of a search seeded by `seed` (32 bits of
    sha256('seed/number'))."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{number}".encode()).digest()[:4], "little")


def trial_outcome(run_dir: Path, config_hash: str) -> Outcome | None:
    """The outcome of a trial's run from its record; None when the directory holds no record
    of that config that ended (not trained: skipped, refused, or stopped and to be resumed)."""
    try:
        record = read_record(run_dir)
    except (FileNotFoundError, CorruptRecord):
        return None
    if record.get("config_hash") != config_hash or record["status"] == "preempted":
        return None
    if record["status"] == "finished":
        value = objective_of(record)
        if value is not None and math.isfinite(value):
            return Outcome(value)
        return Outcome(None, "finished without a finite validation value")
    return Outcome(None, f"{record['status']}: {record.get('error', '')}".rstrip(": "))


def counted(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial counts towards n_trials: complete, running, or failed with an lr (its
    run failed or diverged); a trial failed before it had an lr (its process died while asking)
    does not."""
    import optuna

    state = trial.state
    return state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING) or (
        state == optuna.trial.TrialState.FAIL and "lr" in trial.params)


def database_error(err: Exception) -> str:
    """A storage error in one line: the database's own message ('file is not a database',
    'attempt to write a readonly database', 'database or disk is full')."""
    seen: BaseException | None = err
    while seen is not None:
        original = getattr(seen, "orig", None)
        if original is not None:
            seen = original
            break
        if seen.__cause__ is None:
            break
        seen = seen.__cause__
    text = str(seen or err).strip().splitlines()
    return f"{type(seen or err).__name__}: {text[0] if text else ''}".rstrip(": ")


def stop_signal() -> int | None:
    """The stop signal this process received: between trials (the search's handler), or
    during a trial that ran here (the run's)."""
    return SEARCH_STOP.received or preemption.STOP.received


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
    `n_trials` trials per question, lr log-uniform in [lr_low, lr_high], TPE seeded by `seed`
    and the trial's number, random for the first `n_startup_trials`."""

    def __init__(self, n_trials: int, lr_low: float, lr_high: float, seed: int = 0,
                 n_startup_trials: int = 4) -> None:
        self.n_trials, self.lr_low, self.lr_high = n_trials, lr_low, lr_high
        self.seed, self.n_startup_trials = seed, n_startup_trials
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        # one trial at a time, in this process (module docstring)
        self.in_process = "n_jobs" in config.hydra.launcher
        if self.in_process:
            with read_write(config.hydra.launcher), open_dict(config.hydra.launcher):
                config.hydra.launcher.n_jobs = 1
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> list[dict[str, Any]]:
        """Search every question of `arguments`; a refusal, a storage error or a stop signal
        ends the process (one line; exit 2, 1, 128 + signal)."""
        import optuna
        import sqlalchemy.exc

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        SEARCH_STOP.install()  # a signal between trials stops the search at a safe point
        sweep_dir = Path(self.config.hydra.sweep.dir)
        try:
            return self._sweep(sweep_dir, arguments)
        except SearchRefusal as err:
            line, code = str(err), err.exit_code
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as err:
            line = (f"cannot use the lr search's storage {SweepDir(sweep_dir).optuna_storage}: "
                    f"{database_error(err)}")
            code = 1
        except OSError as err:
            line = f"cannot write the lr search directory {sweep_dir}: {storage_error(err)}"
            code = 1
        print(f"rnnmem: error: {line}", file=sys.stderr, flush=True)
        sys.exit(code)

    def _sweep(self, sweep_dir: Path, arguments: list[str]) -> list[dict[str, Any]]:
        import optuna

        self._check_settings()
        plans = self._plans(arguments)
        files = SweepDir(sweep_dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)  # SQLite needs the folder first
        for leftover in remove_stale(sweep_dir):
            print(f"[lr search] removed {leftover}, left by an interrupted write", flush=True)
        self._check_code(sweep_dir, plans)
        lock = FileLock(files.lr_search_locks / "search.lock")
        with lock:
            storage = optuna.storages.RDBStorage(
                f"sqlite:///{files.optuna_storage.resolve()}",
                engine_kwargs={"connect_args": {"timeout": 60}})
            studies = [open_study(storage, plan, files.optuna_storage) for plan in plans]
            other_questions(storage, plans, files.optuna_storage)
        stopped = None
        for plan, study in zip(plans, studies, strict=True):
            stopped = self._search(plan, study, lock, files)
            if stopped is not None:
                break
        with lock:
            results = write_outcome(files, studies, self._method(), stopped)
        if stopped is not None:
            name = signal.Signals(stopped).name
            print(f"[lr search] stopped by {name}; rerun the same command to resume (a trial "
                  "that was training resumes from its checkpoint)", flush=True)
            sys.exit(128 + stopped)
        return results

    def _check_settings(self) -> None:
        """The sweeper's own values, one line each: n_trials >= 1, 0 < lr_low < lr_high, both
        finite, n_startup_trials >= 0."""
        low, high = self.lr_low, self.lr_high
        if not isinstance(self.n_trials, int) or self.n_trials < 1:
            raise SearchRefusal(f"hydra.sweeper.n_trials={self.n_trials!r} must be >= 1")
        numbers = all(isinstance(v, Real) and not isinstance(v, bool) for v in (low, high))
        if not (numbers and math.isfinite(low) and math.isfinite(high) and 0 < low < high):
            raise SearchRefusal(f"hydra.sweeper.lr_low={low!r}, lr_high={high!r}: need finite "
                                "0 < lr_low < lr_high")
        if not isinstance(self.n_startup_trials, int) or self.n_startup_trials < 0:
            raise SearchRefusal(f"hydra.sweeper.n_startup_trials={self.n_startup_trials!r} must "
                                "be >= 0")

    def _plans(self, arguments: list[str]) -> list[Plan]:
        """Each combination composed and validated (one line and exit 2 before any trial if
        one does not compose or holds a bad value), with its question."""
        plans = []
        for combo, label in combinations(arguments):
            try:
                job = self._compose([*combo, "optim.lr_by_cell=null"])
            except Exception as err:  # its values do not compose (task=nosuch)
                raise SearchRefusal(f"search {label}: {one_line(err)}") from None
            try:
                preflight(job, wandb=False)
            except ConfigError as err:
                raise SearchRefusal(f"search {label}: {err}") from None
            plans.append(Plan(tuple(combo), label, Question.of(job, self.lr_low, self.lr_high)))
        return plans

    def _compose(self, overrides: list[str]) -> DictConfig:
        return self.hydra_context.config_loader.load_sweep_config(self.config, overrides)

    def _check_code(self, sweep_dir: Path, plans: list[Plan]) -> None:
        """Runs of these questions made by other code, as a sweep checks them: one line per
        kind of code; with `on_code_change=error`, a refusal before any trial."""
        changed = other_code_runs(sweep_dir, plans)
        for code, runs in sorted(changed.items()):
            print(f"[lr search] {runs} runs of this search hold records or checkpoints made by "
                  f"other code ({code}; now {describe(code_identity())})", flush=True)
        if changed and self.config.on_code_change == "error":
            raise SearchRefusal(
                "records or checkpoints of other code in the search (above); set "
                "on_code_change=rerun to train them again or on_code_change=keep to keep them")

    def _search(self, plan: Plan, study: optuna.Study, lock: FileLock,
                files: SweepDir) -> int | None:
        """Run the study's trials until `n_trials` count; the stop signal, if one arrived."""
        import optuna

        done = sum(counted(t) for t in study.get_trials(deepcopy=False))
        print(f"[lr search] {plan.label}: study {study.study_name}, {done} of {self.n_trials} "
              "trials asked before", flush=True)
        while stop_signal() is None:
            with lock:
                claim = self._claim(plan, study, files)
            if claim is None:
                return None
            print(f"[lr search] {plan.label}: trial {claim.number} at lr {claim.lr:.4g}"
                  + (" (resumed: its process had stopped)" if claim.resumed else ""), flush=True)
            self.launcher.launch([claim.overrides], initial_job_idx=self.job_idx)
            self.job_idx += 1
            if stop_signal() is not None:
                claim.lock.release()  # still RUNNING: the next start resumes it
                break
            if lock_held(claim.run_dir):  # its run is trained by another process: later
                claim.lock.release()
                continue
            outcome = trial_outcome(claim.run_dir, claim.config_hash)
            if outcome is not None and outcome.value is not None:
                study.tell(claim.number, outcome.value)
            else:
                why = outcome.reason if outcome is not None else "its run left no record"
                print(f"[lr search] {plan.label}: trial {claim.number} failed ({why}; see "
                      f"{RunDir(claim.run_dir).path})", flush=True)
                study.tell(claim.number, state=optuna.trial.TrialState.FAIL)
            claim.lock.release(remove=True)
        return stop_signal()

    def _claim(self, plan: Plan, study: optuna.Study, files: SweepDir) -> Claim | None:
        """Under the storage lock: a RUNNING trial whose process died (claimed, to be run
        again at its lr), else a new trial while fewer than n_trials count, else None."""
        import optuna

        trials = study.get_trials(deepcopy=False)
        for trial in trials:
            if trial.state == optuna.trial.TrialState.RUNNING:
                claim = self._orphan(plan, study, trial.number, files)
                if claim is not None:
                    return claim
        if sum(counted(t) for t in study.get_trials(deepcopy=False)) >= self.n_trials:
            return None
        number = len(trials)
        study.sampler = optuna.samplers.TPESampler(seed=trial_seed(self.seed, number),
                                                   n_startup_trials=self.n_startup_trials)
        trial = study.ask()
        trial_lock = FileLock(trial_lock_path(files, study, trial.number))
        trial_lock.acquire(wait=True)  # a new number: nobody else holds its lock
        lr = trial.suggest_float("lr", self.lr_low, self.lr_high, log=True)
        overrides, run_dir, config_hash = self._trial_job(plan, lr, files)
        trial.set_user_attr(RUN_DIR, run_dir.relative_to(files.path).as_posix())
        return Claim(trial.number, lr, overrides, run_dir, config_hash, trial_lock, False)

    def _orphan(self, plan: Plan, study: optuna.Study, number: int,
                files: SweepDir) -> Claim | None:
        """The RUNNING trial `number` if its process is gone (its lock is free) and its run is
        not trained elsewhere: claimed; None otherwise."""
        import optuna

        trial_lock = FileLock(trial_lock_path(files, study, number))
        if not trial_lock.acquire(wait=False):
            return None  # its process runs it
        (trial,) = [t for t in study.get_trials(deepcopy=False) if t.number == number]
        if trial.state != optuna.trial.TrialState.RUNNING:
            trial_lock.release(remove=True)  # told meanwhile
            return None
        if "lr" not in trial.params:  # its process died while asking: never ran
            study.tell(number, state=optuna.trial.TrialState.FAIL)
            trial_lock.release(remove=True)
            return None
        lr = float(trial.params["lr"])
        overrides, run_dir, config_hash = self._trial_job(plan, lr, files)
        if lock_held(run_dir):
            trial_lock.release()
            return None
        return Claim(number, lr, overrides, run_dir, config_hash, trial_lock, True)

    def _trial_job(self, plan: Plan, lr: float, files: SweepDir) -> tuple[list[str], Path, str]:
        """A trial's overrides, its run directory and its run's config hash."""
        overrides = [*plan.combo, f"optim.lr={lr!r}", "optim.lr_by_cell=null"]
        if self.in_process:
            overrides.append("hydra.launcher.n_jobs=1")  # the trial's threads: every core
        job = self._compose(overrides)
        run_dir = files.path / str(OmegaConf.select(job, "hydra.sweep.subdir"))
        return overrides, run_dir, run_hash(job)

    def _method(self) -> str:
        return (f"Each trial is one run at a learning rate that TPE (seed {self.seed}, "
                f"{self.n_startup_trials} random trials first) draws log-uniformly in "
                f"[{self.lr_low:g}, {self.lr_high:g}]; its value is the run's last validation "
                "value of the task's metric. One study per question: the runs' config less "
                "the lr, the metric, its direction, the lr range and the code's source digest.")


def trial_lock_path(files: SweepDir, study: optuna.Study, number: int) -> Path:
    return files.lr_search_locks / f"{study.study_name}-{number}.lock"


def open_study(storage: optuna.storages.BaseStorage, plan: Plan, where: Path) -> optuna.Study:
    """The study of `plan`'s question, created with its question and combination as user
    attributes, or loaded and checked against them (SearchRefusal if it holds another)."""
    import optuna

    question, name = plan.question, plan.question.study_name
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        study = optuna.create_study(study_name=name, storage=storage,
                                    direction=question.direction)
    stored = study.user_attrs.get(QUESTION)
    if stored is None and study.get_trials(deepcopy=False):
        raise SearchRefusal(f"{where}: study {name} has trials but no question; it is left "
                            "untouched: give this search its own hydra.sweep.dir")
    if stored is None:  # new (or created by a process that died before stating it)
        study.set_user_attr(QUESTION, question.as_dict())
        study.set_user_attr(COMBINATION, plan.label)
        study.set_user_attr(OVERRIDES, list(plan.combo))
        return study
    direction = study.direction.name.lower()
    if json.dumps(stored, sort_keys=True) != json.dumps(question.as_dict(), sort_keys=True) \
            or direction != question.direction:
        keys = question_differences(stored, question) or ["direction"]
        raise SearchRefusal(f"{where}: study {name} was made for another question (differs in "
                            f"{', '.join(keys)}); it is left untouched: give this search its own "
                            "hydra.sweep.dir")
    return study


def other_questions(storage: optuna.storages.BaseStorage, plans: list[Plan],
                    where: Path) -> None:
    """Say, in one line, that the storage holds studies of other questions, and the nearest's
    differences from this search's."""
    import optuna

    ours = {plan.question.study_name for plan in plans}
    others = [summary for summary in optuna.get_all_study_summaries(storage)
              if summary.study_name not in ours]
    if not others:
        return
    nearest = min((question_differences(summary.user_attrs.get(QUESTION) or {}, plan.question)
                   for summary in others for plan in plans), key=len)
    print(f"[lr search] {where} also holds {len(others)} studies of other questions (the "
          f"nearest differs in {', '.join(nearest) or '?'}); they are kept, and this search's "
          "outcome lists its own studies", flush=True)


def other_code_runs(sweep_dir: Path, plans: list[Plan]) -> Counter:
    """{the code, described: runs} of the run directories under `sweep_dir` that hold a
    finished or diverged record, or else a checkpoint, of one of `plans`' questions made by
    other code (`rnnmem.rundir.code`)."""
    wanted = {json.dumps(plan.question.config, sort_keys=True) for plan in plans}
    run_dirs = {path.parent for name in (RunDir.RECORD, RunDir.CHECKPOINT)
                for path in sweep_dir.rglob(name)}
    changes: Counter = Counter()
    for run_dir in sorted(run_dirs):
        try:
            record: dict[str, Any] | None = read_record(run_dir)
        except (FileNotFoundError, CorruptRecord):
            record = None
        held = (record if record is not None and record["status"] in COMPLETE
                else checkpoint_stamp(RunDir(run_dir).checkpoint))
        if not held or not isinstance(held.get("config"), dict):
            continue
        config = without_lr(identity_config(OmegaConf.create(held["config"])))
        if json.dumps(config, sort_keys=True) in wanted and other_code(held):
            changes[describe(held)] += 1
    return changes


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """The study's trials that have an lr, as rows of `rnnmem.reporting.lr_window` (the
    study's task, T and cell from its stated question)."""
    import optuna

    config = study.user_attrs[QUESTION]["config"]
    states = {optuna.trial.TrialState.COMPLETE: "complete",
              optuna.trial.TrialState.FAIL: "failed",
              optuna.trial.TrialState.RUNNING: "running"}
    return [{"study": study.study_name, "label": study.user_attrs.get(COMBINATION, ""),
             "task": config["task"]["name"], "seq_len": int(config["task"]["seq_len"]),
             "cell": config["model"]["cell"], "trial": trial.number,
             "lr": float(trial.params["lr"]),
             "value": float(trial.value) if trial.value is not None else math.nan,
             "state": states[trial.state]}
            for trial in study.get_trials(deepcopy=False)
            if "lr" in trial.params and trial.state in states]


def outcome(studies: list[optuna.Study]) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """The search's outcome from its studies: one entry per study for `lr_search.yaml` (its
    question in short, its trials by state, the best lr and value, the trials that solved the
    task and their lr window) and the table of every trial (`rnnmem.reporting.lr_window`)."""
    rows = [row for study in studies for row in trial_rows(study)]
    trials = pd.DataFrame(rows, columns=list(TRIAL_COLUMNS))
    summaries = {s["study"]: s for s in study_summaries(trials)} if rows else {}
    empty = {"trials": 0, "failed": 0, "running": 0, "best_lr": None, "best_value": None,
             "solved": 0, "solved_lr_window": None}
    results = []
    for study in studies:
        question, config = study.user_attrs[QUESTION], study.user_attrs[QUESTION]["config"]
        summary = summaries.get(study.study_name, empty)
        results.append({
            "study": study.study_name, "combination": study.user_attrs.get(COMBINATION, ""),
            "overrides": list(study.user_attrs.get(OVERRIDES, [])),
            "cell": config["model"]["cell"], "task": config["task"]["name"],
            "seq_len": int(config["task"]["seq_len"]), "metric": question["metric"],
            "direction": question["direction"],
            **{key: summary[key] for key in empty}})
    return results, trials


def write_outcome(files: SweepDir, studies: list[optuna.Study], method: str,
                  stopped: int | None) -> list[dict[str, Any]]:
    """`lr_search.yaml`, `lr_search.md` and the lr window's figure of `studies`, each written
    atomically; returns the yaml's `searches`."""
    results, trials = outcome(studies)
    write_results(files.lr_search, results, stopped)
    low, high = studies[0].user_attrs[QUESTION]["lr_range"]
    write_window(files, trials, (low, high), method)
    return results


def write_window(files: SweepDir, trials: pd.DataFrame, lr_range: tuple[float, float],
                 method: str) -> None:
    """The lr window of `trials`: `lr_search.md` (`rnnmem.reporting.lr_window`) and its figure,
    `lr_search.png`/`.pdf` (`rnnmem.reporting.figures.lr_window`), atomically; the same trials
    give the same bytes."""
    from rnnmem.reporting.figures import drawing
    from rnnmem.reporting.figures.lr_window import lr_window

    title = f"Learning-rate search `{files.path.resolve().name}`"
    write_text_atomically(files.lr_window_table, lr_window_markdown(trials, title, method))
    fig = lr_window(trials, lr_range, title="Validation metric against learning rate, every "
                    "trial")
    drawing.save(fig, files.lr_window_figure)
    drawing.close(fig)


def write_results(path: Path, results: list[dict[str, Any]], stopped: int | None = None) -> None:
    """`lr_search.yaml`: every study's outcome (and the stop signal, if the search stopped)
    and, where each cell was searched once, the `optim.lr_by_cell` mapping that feeds a
    sweep; written atomically."""
    cells = [r["cell"] for r in results if r["best_lr"] is not None]
    content: dict[str, Any] = {"searches": results}
    if stopped is not None:
        content["stopped_by"] = signal.Signals(stopped).name
    if cells and len(cells) == len(set(cells)):
        content["optim"] = {"lr_by_cell": {r["cell"]: float(f"{r['best_lr']:.3g}")
                                           for r in results if r["best_lr"] is not None}}
    text = yaml.safe_dump(OmegaConf.to_container(OmegaConf.create(content)), sort_keys=False)
    write_text_atomically(path, text)
