"""The local sweep's launcher: Hydra's joblib launcher, whose jobs fail alone and stop together.

`JobsLauncher` runs the jobs as `hydra_joblib_launcher` does (joblib's loky processes, one per
`n_jobs`), with three differences:

- a job whose config cannot be composed (`optim.lr=abc`, `task=nosuch`) is left out by the
  sweeper (`hydra_plugins.rnnmem_launcher.JobsSweeper`, through `composes`), so the other jobs
  run; the sweep's callback (`rnnmem.sweeps.monitor`) has already recorded it as failed, with a
  one-line error, before any job started;
- each worker process leads its own process group and keeps the stop-signal handlers of
  `rnnmem.training.preemption.STOP` between jobs: a signal for the whole sweep (Ctrl-C in a
  terminal, `kill -- -PGID`) reaches the parent only, which passes it on to each worker once;
- the parent's SIGINT/SIGTERM handler (`SweepStop`) does that passing on: every running job
  checkpoints at its next step and records `preempted`, every job not started is skipped, the
  workers are shut down, and the sweep's summary is printed before it exits 128 + signal. A
  second signal kills the workers' process groups (their W&B service processes too) and exits
  at once; the jobs resume from their last checkpoints.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from hydra.core.config_loader import ConfigLoader
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from joblib import Parallel, delayed
from omegaconf import DictConfig

from rnnmem import framework
from rnnmem.config import register_config
from rnnmem.training import preemption

log = logging.getLogger(__name__)
SWEEP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def worker_processes(parent: int | None = None) -> list[int]:
    """The pids of the loky worker processes among the children of `parent` (this process)
    that lead their own process group, i.e. have started a job (`execute_job`) and hold the
    stop handlers. A worker still starting gets no signal: it runs its first job."""
    parent = os.getpid() if parent is None else parent
    children: list[int] = []
    for task in Path(f"/proc/{parent}/task").glob("*"):
        try:
            children += [int(pid) for pid in (task / "children").read_text().split()]
        except OSError:
            continue
    workers = []
    for pid in children:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        try:
            ready = os.getpgid(pid) == pid
        except ProcessLookupError:
            continue
        if b"popen_loky_posix" in cmdline and ready:
            workers.append(pid)
    return workers


class SweepStop:
    """The parent's SIGINT/SIGTERM handler (module docstring); `received` is the first signal."""

    def __init__(self) -> None:
        self.received: int | None = None

    def install(self) -> None:
        for signum in SWEEP_SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        workers = worker_processes()
        if self.received is None:
            self.received = signum
            print(f"[sweep] received {name}: the running jobs checkpoint at their next step "
                  f"and stop; send it again to stop at once", flush=True)
            for pid in workers:
                _signal(pid, signum, os.kill)
            return
        print(f"[sweep] received {name} again: stopping at once; the jobs resume from their "
              "last checkpoint", flush=True)
        for pid in workers:
            _signal(pid, signal.SIGKILL, os.killpg)
        os._exit(128 + signum)


def _signal(pid: int, signum: int, send: Any) -> None:
    try:
        send(pid, signum)
    except ProcessLookupError:
        pass  # it ended meanwhile


STOP = SweepStop()  # the sweep's parent process (`rnnmem.sweeps.monitor` exits 128 + STOP.received)


def execute_job(idx: int, overrides: Sequence[str], hydra_context: HydraContext,
                config: DictConfig, task_function: TaskFunction,
                singleton_state: dict[Any, Any], parent: int) -> JobReturn:
    """Hydra's joblib `execute_job`, in a worker that leads its own process group and keeps
    its stop handlers; with n_jobs=1 joblib runs it in the sweep's own process (`parent`), which
    keeps its own handlers. The config's resolvers are registered first: Hydra resolves the
    job's directory (`${run_hash:}`) before the job runs."""
    register_config()
    if os.getpid() != parent and not preemption.STOP.worker:
        preemption.STOP.worker = True
        preemption.STOP.install()
        os.setpgid(0, 0)  # after the handlers: the parent signals only workers that lead one
    return framework.joblib_launcher_core().execute_job(
        idx, overrides, hydra_context, config, task_function, singleton_state)


def composes(loader: ConfigLoader, config: DictConfig, overrides: Sequence[str]) -> bool:
    """Whether the job of `overrides` composes (its failure is recorded by
    `rnnmem.sweeps.monitor`)."""
    try:
        loader.load_sweep_config(config, list(overrides))
    except Exception:  # any composition error: this job alone fails
        return False
    return True


class JobsLauncher(JoblibLauncher):
    """The launcher of `hydra/launcher=local` (`hydra_plugins.rnnmem_launcher.LocalLauncher`)."""

    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        joblib_cfg = self.joblib
        joblib_cfg["backend"] = "loky"  # as hydra_joblib_launcher: threads break Hydra
        framework.joblib_launcher_core().process_joblib_cfg(joblib_cfg)
        log.info("Joblib.Parallel(%s) is launching %d jobs",
                 ",".join(f"{k}={v}" for k, v in joblib_cfg.items()), len(job_overrides))
        for idx, overrides in enumerate(job_overrides):
            log.info("\t#%d : %s", initial_job_idx + idx, " ".join(filter_overrides(overrides)))
        STOP.install()
        singleton_state = Singleton.get_state()
        runs = Parallel(**joblib_cfg)(
            delayed(execute_job)(initial_job_idx + idx, overrides, self.hydra_context,
                                 self.config, self.task_function, singleton_state, os.getpid())
            for idx, overrides in enumerate(job_overrides))
        _shut_down_workers()
        return runs


def _shut_down_workers() -> None:
    """Stop joblib's reusable loky workers now (each ends its W&B service as it exits), so
    that none outlives the sweep."""
    from joblib.externals.loky import reusable_executor

    executor = reusable_executor._executor
    if executor is not None:
        executor.shutdown(wait=True)
