"""Preemption-safe runs: stop signals, checkpoints at step boundaries, resume.

A run can be stopped at any moment: SLURM sends SIGTERM at preemption and at `scontrol requeue`
(SIGKILL follows after its KillWait, 30 s by default), submitit asks for a checkpoint with
SIGUSR2 `signal_delay_s` before the time limit, SIGUSR1 is the conventional "checkpoint now and
stop", Ctrl-C is SIGINT. From the moment a run starts, each of them only sets a flag
(`StopSignals`). `Checkpointer` looks at the flag between two training steps (after the step's
validation, when one is due), where the state is consistent, and writes the checkpoint there:
Lightning's (weights, optimiser, loops, every callback's `state_dict`: the probe's results, the
learning curves, the training clock) and the module's own (`on_save_checkpoint`: the batch
generator's state). It also writes one every `checkpoint.every_minutes`. Training then stops;
the run's record says `preempted` with the step.

Requeue semantics are submitit's (the SLURM launcher of Hydra): a preempted or timed-out job is
requeued by SLURM (`scontrol requeue`, or submitit's SIGUSR2 handler, which `chain_previous`
hands the signal to once the checkpoint is written), reruns the same command, lands in the same
run directory (the config's hash names it) and resumes from `checkpoint.ckpt`. Resuming at step
k gives the run an uninterrupted one would have given, bit for bit on the CPU.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.trainer.states import TrainerFn

from rnnmem import framework
from rnnmem.rundir.checkpoint import STAMP_KEY
from rnnmem.training.schedule import Schedule

log = logging.getLogger("rnnmem")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)


class StopSignals:
    """Records the first stop signal this process receives (`received`, a signal number).

    `install` replaces the handlers of STOP_SIGNALS and remembers the previous ones; installing
    again (Lightning registers its own SIGTERM handler when `fit` starts) keeps the first
    previous handler. A second SIGINT raises KeyboardInterrupt: a user who presses Ctrl-C twice
    does not want to wait for the step to end. Once training is over (`trained`: the test, the
    forgetting pass, the record) there is nothing left to checkpoint: the run says so and
    finishes its record.

    In a local sweep's worker process (`worker`, set by `rnnmem.sweeps.launcher`) the handlers stay
    installed between jobs (`restore` keeps them): the first stop signal also skips the worker's
    later jobs, and any later one ends the process at once (exit 128 + signal).
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.worker = False
        self.trained = False  # the run's training is over (`Checkpointer.on_train_end`)
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        self.trained = False
        for signum in STOP_SIGNALS:
            current = signal.signal(signum, self._handle)
            if current is not self._handle:
                self._previous.setdefault(signum, current)

    def restore(self) -> None:
        if self.worker:
            return
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            if self.trained:  # testing, forgetting, the record: nothing left to checkpoint
                log.warning("received %s after training: finishing the run's test and record, "
                            "then stopping", signal.Signals(signum).name)
            else:
                log.warning("received %s: checkpointing at the end of this step, then stopping",
                            signal.Signals(signum).name)
        elif self.worker:
            os._exit(128 + signum)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt

    @property
    def name(self) -> str | None:
        return signal.Signals(self.received).name if self.received is not None else None

    def chain_previous(self) -> None:
        """Hand the received signal to the handler installed before ours, when that is a
        Python function of its own (submitit's, which requeues the job and exits) rather than
        Python's default Ctrl-C handler."""
        previous = self._previous.get(self.received) if self.received is not None else None
        self.restore()
        if callable(previous) and previous is not signal.default_int_handler:
            previous(self.received, None)


STOP = StopSignals()  # one per process: a stop signal also skips a sweep worker's later jobs


class Checkpointer(pl.Callback):
    """Writes `path` atomically every `every_seconds` and when a stop signal arrived, always
    where a step's scheduled work is done; on a signal it then stops training (`stopped_at` =
    the step).

    That point is the end of the training batch, or, when validation is due at this step
    (`validation`: every interval, and the last step), the end of that validation: Lightning
    takes a checkpoint written at a batch end as one whose validation is done, and a run
    resumed from it would never validate at this step. A signal that arrives during a
    validation is acted on at its end. Lightning validates once more when training is told to
    stop (early stopping's rule, which also validates every run's last step);
    a preempted run does not: that row would be off the schedule, and the time is the grace
    period's (SLURM's KillWait).

    Put it last among the callbacks: the others' state at this step (the learning curves' row
    of this step) is then part of the checkpoint."""

    def __init__(self, path: Path, every_seconds: float, signals: StopSignals,
                 validation: Schedule, stamp: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.stamp = stamp or {}
        self.every_seconds = every_seconds
        self.signals = signals
        self.validation = validation
        self.stopped_at: int | None = None
        self._last = time.monotonic()

    def on_save_checkpoint(self, trainer: pl.Trainer, module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        checkpoint[STAMP_KEY] = self.stamp

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.signals.install()  # after Lightning's own SIGTERM handler: ours decides
        self._last = time.monotonic()

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.signals.trained = True

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:
        if not self.validation.due(trainer.global_step):
            self._checkpoint_if_due(trainer)
            if self.stopped_at is not None:
                _skip_validation_on_stop(trainer)
        # else: on_validation_end, once this step's validation is in the callbacks' state

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking:
            self._checkpoint_if_due(trainer)

    def _checkpoint_if_due(self, trainer: pl.Trainer) -> None:
        stop = self.signals.received is not None
        if stop or time.monotonic() - self._last >= self.every_seconds:
            self.save(trainer)
        if stop:
            self.stopped_at = trainer.global_step
            trainer.should_stop = True

    def save(self, trainer: pl.Trainer) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        trainer.save_checkpoint(tmp)
        os.replace(tmp, self.path)
        self._last = time.monotonic()
        log.info("checkpoint at step %d: %s", trainer.global_step, self.path)


def _skip_validation_on_stop(trainer: pl.Trainer) -> None:
    """Stop without the validation Lightning runs when `should_stop` is set off its schedule
    (`_should_check_val_fx`; `rnnmem.framework.skip_next_validation`).
    tests/test_faults.py checks that a stopped run's curves stay on the schedule."""
    if not framework.skip_next_validation(trainer):
        log.warning("Lightning %s validates once more on stopping: this start's curves end "
                    "with an off-schedule validation", pl.__version__)
