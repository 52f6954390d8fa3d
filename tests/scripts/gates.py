"""Hydra callbacks that make a run wait for its test: the synchronisation points of the tests that
stop, kill or requeue a run half-way.

A test adds one to the runs it starts (`conftest.gate`, `conftest.gated_env`):

    +hydra.callbacks.gate._target_=gates.PauseAfterFirstCheckpoint +hydra.callbacks.gate.dir=D

with tests/scripts on PYTHONPATH, which a local sweep's worker processes and SLURM's jobs (sbatch
exports the environment) inherit. The run writes a marker file in D at a known point and waits
there until the test has acted, so that no load on the machine lets it run past that point
first; the test waits for the marker, an event, never for a while. A marker is written
atomically: a test that sees it reads all of it. Hydra's node is not part of a run's identity
(`rnnmem.rundir.identity.BOOKKEEPING`): a gated run has the hash, the directory and the numbers of
the same run without a gate.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from rnnmem.training import preemption
from rnnmem.training.preemption import Checkpointer

SAVE = Checkpointer.save  # the checkpointer's own hooks, restored at the end of each gated job
BATCH_START = Checkpointer.on_train_batch_start
REPLACE, RENAME = os.replace, os.rename


def write_marker(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def hold_forever() -> None:
    """Wait until this process is killed; signal handlers still run meanwhile."""
    while True:
        time.sleep(3600)


class PauseAfterFirstCheckpoint(Callback):
    """Pauses each run after its first checkpoint, at the start of the next batch (mid-run, where
    a stop signal usually lands), until it receives a stop signal.

    Writes `<dir>/<run directory name>` holding the step (that of the checkpoint), then waits
    until `rnnmem.training.preemption.STOP` has received a signal (with `forever`: until the
    process is killed). The run then trains that batch and stops at its end, as any signalled run
    does: `preempted` at the paused step + `steps_per_batch`. A run whose marker exists (the same
    job started again, e.g. requeued by SLURM) does not pause.

    With `right_after_save` it pauses inside the checkpoint's batch end instead, before
    Lightning logs that batch: a signal that lands there (SLURM's also stops W&B's service)
    finds logging still to do before the run's next checkpoint. With `from_job` = k the first k
    jobs that start under this gate's directory (tickets `<dir>/.job-<i>`, shared by every
    process) run through without pausing."""

    def __init__(self, dir: str, forever: bool = False, right_after_save: bool = False,
                 from_job: int = 0) -> None:
        self.dir = Path(dir)
        self.forever = forever
        self.right_after_save = right_after_save
        self.from_job = from_job

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        gate = self
        if take_ticket(self.dir, ".job") < self.from_job:
            Checkpointer.save = SAVE
            Checkpointer.on_train_batch_start = BATCH_START
            return

        def save_and_arm(checkpointer: Checkpointer, trainer: pl.Trainer) -> None:
            SAVE(checkpointer, trainer)
            checkpointer.gate_armed = True
            if gate.right_after_save:
                pause_once(checkpointer, trainer)

        def pause_once(checkpointer: Checkpointer, trainer: pl.Trainer, *args: Any) -> None:
            marker = gate.dir / checkpointer.path.parent.name
            if (not getattr(checkpointer, "gate_armed", False) or marker.exists()
                    or preemption.STOP.received is not None):
                return
            write_marker(marker, str(trainer.global_step))
            if gate.forever:
                hold_forever()
            while preemption.STOP.received is None:
                time.sleep(0.01)  # a signal ends the sleep; its handler sets STOP.received

        Checkpointer.save = save_and_arm
        Checkpointer.on_train_batch_start = pause_once

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        Checkpointer.save = SAVE
        Checkpointer.on_train_batch_start = BATCH_START


def take_ticket(directory: Path, prefix: str) -> int:
    """The lowest free ticket `<directory>/<prefix>-<i>`, created exclusively: processes that
    take tickets at once never share one."""
    directory.mkdir(parents=True, exist_ok=True)
    ticket = 0
    while True:
        try:
            os.close(os.open(directory / f"{prefix}-{ticket}", os.O_CREAT | os.O_EXCL))
            return ticket
        except FileExistsError:
            ticket += 1


class Rendezvous(Callback):
    """Holds the first job of each process until `parties` processes have reached their first
    job: writes `<dir>/arrived-<pid>` and waits for `parties` such files. So two searches
    started together each have a trial running when either goes on. Later jobs pass."""

    def __init__(self, dir: str, parties: int) -> None:
        self.dir = Path(dir)
        self.parties = parties

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        mine = self.dir / f"arrived-{os.getpid()}"
        if mine.exists():
            return
        write_marker(mine, "")
        while len(list(self.dir.glob("arrived-*"))) < self.parties:
            time.sleep(0.01)


class HoldAtRename(Callback):
    """Holds the job inside the rename that would publish a file or folder whose name matches
    `pattern` (fnmatch: 'record.json', 'adding-val-*'): the temporary is written, the rename not
    yet made, where a SIGKILL leaves it behind. Writes `<dir>/held`, then waits until the
    process is killed; signal handlers still run, and the first stop signal it receives there
    is marked by `<dir>/signalled` (a second Ctrl-C raises KeyboardInterrupt out of the
    rename). Renames of other names go through."""

    def __init__(self, dir: str, pattern: str) -> None:
        self.dir = Path(dir)
        self.pattern = pattern

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        gate = self

        def holding(real: Any) -> Any:
            def rename(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
                if fnmatch.fnmatch(Path(dst).name, gate.pattern):
                    write_marker(gate.dir / "held", str(dst))
                    while preemption.STOP.received is None:
                        time.sleep(0.01)
                    write_marker(gate.dir / "signalled", str(preemption.STOP.received))
                    hold_forever()
                real(src, dst, *args, **kwargs)

            return rename

        os.replace, os.rename = holding(REPLACE), holding(RENAME)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        os.replace, os.rename = REPLACE, RENAME


class PauseInCall(Callback):
    """Pauses the job when it calls `target` (a module-level function, 'module.name'): writes
    `<dir>/paused`, waits until the process has received a stop signal, then calls it."""

    def __init__(self, dir: str, target: str) -> None:
        self.dir = Path(dir)
        self.module, _, self.name = target.rpartition(".")

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        module = importlib.import_module(self.module)
        real = getattr(module, self.name)
        gate = self

        def paused(*args: Any, **kwargs: Any) -> Any:
            write_marker(gate.dir / "paused", gate.name)
            while preemption.STOP.received is None:
                time.sleep(0.01)
            return real(*args, **kwargs)

        setattr(module, self.name, paused)


class HoldAfterJobs(Callback):
    """Lets the first `jobs` jobs of a sweep run to their end, then holds the sweep until killed.

    Each job takes a ticket as it starts (`<dir>/started-<i>`, created exclusively: jobs in
    parallel worker processes never share one); a job past the first `jobs` holds before it
    trains. A job that ends writes `<dir>/ended-<i>`; once `jobs` have ended, it writes
    `<dir>/held` and holds. So when `held` appears exactly `jobs` jobs have run (and written
    their records), and no other job trains."""

    def __init__(self, dir: str, jobs: int) -> None:
        self.dir = Path(dir)
        self.jobs = jobs
        self.ticket: int | None = None

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        ticket = 0
        while True:
            try:
                os.close(os.open(self.dir / f"started-{ticket}", os.O_CREAT | os.O_EXCL))
                break
            except FileExistsError:
                ticket += 1
        if ticket >= self.jobs:
            hold_forever()
        self.ticket = ticket

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        (self.dir / f"ended-{self.ticket}").touch()
        if len(list(self.dir.glob("ended-*"))) >= self.jobs:
            write_marker(self.dir / "held", str(self.jobs))
            hold_forever()
