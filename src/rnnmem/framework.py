"""The framework internals rnnmem relies on, in one place (tests/test_framework.py fails loudly
when a Lightning or Hydra upgrade moves one of them).

- Lightning (2.6): the manual-optimisation step counter that `global_step` reads
  (`fit_loop.epoch_loop.manual_optimization.optim_step_progress`), which the training step advances
  itself (`rnnmem.training.module`), and the epoch loop's `_skip_next_val` flag, which keeps a
  stopped run from validating off its schedule (`rnnmem.training.preemption`); and early
  stopping's rule, by which a batch that sets `trainer.should_stop` is validated and logged
  whatever the intervals (`_should_check_val_fx`, `should_update_logs`), which gives every run a
  validation and a log at its last step (`rnnmem.training.schedule`).
- Hydra (1.3): its basic sweeper, `hydra._internal.core_plugins.basic_sweeper.BasicSweeper`,
  whose `split_arguments` expands a sweep's grid (`rnnmem.grid`); the joblib launcher plugin's
  private `_core` (`execute_job`, `process_joblib_cfg`), through which `rnnmem.sweeps.launcher` runs
  jobs as that launcher does. The sweeper plugin in `src/hydra_plugins/rnnmem_launcher/`
  subclasses BasicSweeper and imports it from Hydra itself, at Hydra's plugin scan (which
  executes Hydra's core plugin modules again: a class imported before it is another object);
  the sweep tests (tests/test_sweep.py, tests/test_pipeline.py) run through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

if TYPE_CHECKING:
    import pytorch_lightning as pl

__all__ = ["BasicSweeper", "end_with_validation", "joblib_launcher_core",
           "skip_next_validation", "step_progress"]


def step_progress(trainer: pl.Trainer) -> Any:
    """Lightning's counter of manual optimiser steps, the one `trainer.global_step` reads: a
    training step that steps the optimiser itself calls its `increment_ready()` and
    `increment_completed()` once per step."""
    return trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress


def end_with_validation(trainer: pl.Trainer) -> None:
    """Make this batch the last: Lightning then validates at its end and hands its logged
    values to the loggers, as it does when early stopping stops a run, whatever
    `val_check_interval` and `log_every_n_steps` say."""
    trainer.should_stop = True


def skip_next_validation(trainer: pl.Trainer) -> bool:
    """Ask Lightning to skip the validation it runs when `should_stop` is set off schedule;
    False where this Lightning has no such flag (the caller says so)."""
    epoch_loop = trainer.fit_loop.epoch_loop
    if not hasattr(epoch_loop, "_skip_next_val"):
        return False
    epoch_loop._skip_next_val = True
    return True


def joblib_launcher_core() -> Any:
    """`hydra_plugins.hydra_joblib_launcher._core`: `execute_job` and `process_joblib_cfg`."""
    from hydra_plugins.hydra_joblib_launcher import _core

    return _core
