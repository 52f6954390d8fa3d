"""A run's objects, each built from the typed section of the config it reads.

    build_net(cfg.model, task)                      the recurrent network, sized for the task
    build_module(cfg, task=, net=, steps_per_batch=) the Lightning module that trains it
    build_probe(cfg.probe, task=, val=, items=, logger=)
                                                    the gradient probe on held-out sequences
    build_checkpointer(cfg.checkpoint, run_dir=, stamp=, validation=)
                                                    the periodic and on-signal checkpoint
    build_trainer(cfg.trainer, ...)                 Lightning's trainer, with the callbacks
    build_logger(cfg.logger, ...)                   the W&B run the record's hash names

Each takes its section of the typed config (`rnnmem.config`: `ModelConfig`, `ProbeConfig`, ...;
the module reads several, and takes the `RunConfig`). Every argument beyond the section is
keyword-only, so that two values of one type (a learning rate and a clip norm, two flags)
cannot be swapped by position. Nothing here trains,
writes or decides: the run's lifecycle is `rnnmem.training.lifecycle`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from torch import Tensor

from rnnmem.config import (
    CheckpointConfig,
    LoggerConfig,
    ModelConfig,
    ProbeConfig,
    RunConfig,
    TrainerConfig,
)
from rnnmem.measures.probe import ProbeResult
from rnnmem.models import RecurrentNet
from rnnmem.models.budget import sizing
from rnnmem.models.optimisers import learning_rate
from rnnmem.models.param_groups import settings_of
from rnnmem.rundir.paths import RunDir
from rnnmem.tasks import MemoryTask
from rnnmem.tracking import wandb_run
from rnnmem.training import precision, preemption
from rnnmem.training.callbacks import GradientProbe
from rnnmem.training.module import MemoryTaskModule
from rnnmem.training.schedule import Schedule


def build_net(model: ModelConfig, task: MemoryTask) -> RecurrentNet:
    """`model.cell` stacked `model.depth` deep, with the hidden size `model.param_budget` or
    `model.state_budget` picks where one is set (`rnnmem.models.budget.sizing`),
    `model.state_size`, and the task's input and output sizes."""
    return RecurrentNet(
        model.cell, task.input_size, sizing(model, task)["hidden_size"],
        depth=model.depth, num_outputs=task.num_outputs, per_step_output=task.per_step_output,
        bidirectional=model.bidirectional, merge=model.merge, init=model.init,
        forget_bias=model.forget_bias, state_size=model.state_size,
    )


def build_module(cfg: RunConfig, *, task: MemoryTask, net: RecurrentNet,
                 steps_per_batch: int) -> MemoryTaskModule:
    """The module training `net`: `data.batch_size` fresh sequences per step, `optim`'s
    optimiser at the cell's learning rate (`rnnmem.models.optimisers.learning_rate`), scaled
    per parameter role (`rnnmem.models.param_groups`), the divergence check every
    `trainer.log_every_n_steps`, subnormal numbers flushed to zero in its steps where
    `trainer.flush_denormal` says so (`rnnmem.models.denormals`), seeded by `seed`."""
    return MemoryTaskModule(
        task, net, cfg.data.batch_size, cfg.seed,
        optimiser=cfg.optim.name, lr=learning_rate(cfg.optim, cfg.model.cell),
        roles=settings_of(cfg.optim, cfg.model.cell), grad_clip=cfg.optim.grad_clip,
        check_every_n_steps=cfg.trainer.log_every_n_steps,
        steps_per_batch=steps_per_batch, flush_denormal=cfg.trainer.flush_denormal,
    )


def build_probe(probe: ProbeConfig, *, task: MemoryTask, val: tuple[Tensor, Tensor],
                items: Tensor | None, logger: Any) -> GradientProbe:
    """The gradient probe on the first `probe.batch_size` held-out sequences, and item memory's
    probe view on the item set `items` (None: the task states no items), every
    `probe.every_n_steps` steps; each result goes to W&B too when there is a `logger`."""
    on_probe = None
    if logger is not None:
        def on_probe(result: ProbeResult, summaries: dict[str, Any]) -> None:
            logger.log_metrics(wandb_run.probe_payload(result, summaries), result.step)
    size = min(probe.batch_size, len(val[0]))
    return GradientProbe(
        task, val[0][:size], val[1][:size], probe.every_n_steps,
        threshold=probe.threshold, saturation=probe.saturation, on_probe=on_probe,
        chunk_size=probe.chunk_size, items=items,
    )


def build_checkpointer(checkpoint: CheckpointConfig, *, run_dir: Path, stamp: dict[str, Any],
                       validation: Schedule) -> preemption.Checkpointer:
    """The checkpoint of `run_dir`, every `checkpoint.every_minutes` and at a stop signal, after
    the step's validation when one is due (`validation`: every interval and the last step),
    carrying `stamp`: the config and the code it belongs to (`rnnmem.rundir.verdict` reads
    it)."""
    return preemption.Checkpointer(
        RunDir(run_dir).checkpoint, checkpoint.every_minutes * 60, preemption.STOP,
        validation, stamp)


def build_trainer(trainer: TrainerConfig, *, callbacks: Sequence[pl.Callback], logger: Any,
                  run_dir: Path, gpu_index: int | None, steps_per_batch: int) -> pl.Trainer:
    """Lightning's trainer for `trainer.max_steps` optimiser steps. Lightning counts batches
    for validation and logging, and each batch makes `steps_per_batch` optimiser steps, so
    those intervals (at most the run's length: `rnnmem.training.schedule`) are given to it in
    batches; the last step is validated and logged by the module
    (`rnnmem.framework.end_with_validation`). No sanity check, no checkpoints of Lightning's
    own (`preemption.Checkpointer` is among the callbacks)."""
    val, log = (Schedule(every, trainer.max_steps).interval
                for every in (trainer.val_every_n_steps, trainer.log_every_n_steps))
    return pl.Trainer(
        accelerator=trainer.accelerator,
        devices=precision.trainer_devices(gpu_index),
        precision=trainer.precision,
        max_steps=trainer.max_steps,  # optimiser steps, as global_step counts them
        val_check_interval=val // steps_per_batch,
        check_val_every_n_epoch=None,
        log_every_n_steps=log // steps_per_batch,
        logger=logger if logger is not None else False,
        callbacks=list(callbacks),
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=trainer.progress_bar,
        num_sanity_val_steps=0,
        default_root_dir=str(run_dir),
    )


def build_logger(logger: LoggerConfig, *, run_dir: Path, name: str, job_type: str,
                 config: Mapping[str, Any], run_id: str) -> Any:
    """The W&B run `run_id` (`rnnmem.tracking.wandb_run.make_logger`), its files under
    `logger.save_dir` or else the run directory."""
    return wandb_run.make_logger(
        Path(logger.save_dir or run_dir), name=name, project=logger.project,
        entity=logger.entity, group=logger.group, job_type=job_type, config=config,
        run_id=run_id, stop=preemption.STOP)
