"""One preflight: what a run, a sweep or a learning-rate search checks before anything trains.

    preflight(cfg) = validate(cfg)        every value and name, one line each (rnnmem.config)
                   ; check_devices(cfg)   the accelerator, the precision for the cell's kernel
                                          and the optimiser steps per batch the schedules allow
                   ; W&B reachable         when the run logs to W&B online
                                          (rnnmem.tracking.wandb_run)

A failure raises ConfigError or WandbUnavailable with its one-line message. `rnnmem.train.main`
clears its own run with it; `rnnmem.sweeps.monitor` clears, once, the values every job of a sweep
shares (each job then clears its own), and `rnnmem.sweeps.lr_search` those of a search (without W&B,
which each trial checks).
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from rnnmem.config import ConfigError, validate
from rnnmem.tracking import wandb_run
from rnnmem.training import precision
from rnnmem.training.schedule import schedule_intervals, steps_per_batch


@dataclass(frozen=True)
class Cleared:
    """What the preflight found: optimiser steps per Lightning batch, and the line saying that
    W&B logs offline instead (None when it logs as asked)."""

    steps_per_batch: int
    wandb_note: str | None


def preflight(cfg: DictConfig, *, wandb: bool = True) -> Cleared:
    """Validate `cfg`, check its devices and (with `wandb`) W&B; raise on the first problem."""
    validate(cfg)
    steps = check_devices(cfg)
    note = (wandb_run.check_online(cfg.logger.if_unreachable)
            if wandb and cfg.logger.name == "wandb" else None)
    return Cleared(steps, note)


def check_devices(cfg: DictConfig) -> int:
    """Optimiser steps per batch (`rnnmem.training.schedule.steps_per_batch`, from the
    intervals within the run: `schedule_intervals`), after checking
    that the accelerator and the precision can train the cell here; raises ConfigError with a
    one-line reason otherwise."""
    refusal = precision.check_accelerator(cfg.trainer.accelerator) or precision.check_precision(
        cfg.trainer.precision, cfg.trainer.accelerator, cfg.model.cell)
    if refusal is not None:
        raise ConfigError(refusal)
    try:
        return steps_per_batch(schedule_intervals(cfg), cfg.trainer.steps_per_batch)
    except ValueError as err:
        raise ConfigError(str(err)) from None
