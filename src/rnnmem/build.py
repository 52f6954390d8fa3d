"""A run's objects, each built from the typed section of the config it reads.

    build_net(cfg.model, task)                      the recurrent network, sized for the task
    build_module(cfg, task=, net=, steps_per_batch=) the Lightning module that trains it
    build_probe(cfg.probe, task=, val=, logger=)   the gradient probe on held-out sequences
    build_checkpointer(cfg, run_dir=)               the periodic and on-signal checkpoint
    build_trainer(cfg.trainer, ...)                 Lightning's trainer, with the callbacks
    build_logger(cfg.logger, ...)                   the W&B run the record's hash names

Every argument beyond the config section is keyword-only, so that two values of one type (a
learning rate and a clip norm, two flags) cannot be swapped by position. Nothing here trains,
writes or decides: the run's lifecycle is `rnnmem.run`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig
from torch import Tensor

from rnnmem import devices, preemption, wandb_logging
from rnnmem.budget import sizing
from rnnmem.callbacks import GradientProbe
from rnnmem.code_identity import code_identity
from rnnmem.config import learning_rate
from rnnmem.directories import RunDir
from rnnmem.identity import identity_config, run_hash
from rnnmem.models import RecurrentNet
from rnnmem.module import MemoryTaskModule
from rnnmem.probe import ProbeResult
from rnnmem.tasks import MemoryTask


def build_net(model: DictConfig, task: MemoryTask) -> RecurrentNet:
    """`model.cell` stacked `model.depth` deep, with the hidden size `model.param_budget` or
    `model.state_budget` picks where one is set (`rnnmem.budget.sizing`), `model.state_size`,
    and the task's input and output sizes."""
    return RecurrentNet(
        model.cell, task.input_size, sizing(model, task)["hidden_size"],
        depth=model.depth, num_outputs=task.num_outputs, per_step_output=task.per_step_output,
        bidirectional=model.bidirectional, merge=model.merge, init=model.init,
        forget_bias=model.forget_bias, state_size=model.state_size,
    )


def build_module(cfg: DictConfig, *, task: MemoryTask, net: RecurrentNet,
                 steps_per_batch: int) -> MemoryTaskModule:
    """The module training `net`: `data.batch_size` fresh sequences per step, `optim`'s
    optimiser at the cell's learning rate (`rnnmem.config.learning_rate`), the divergence check
    every `trainer.log_every_n_steps`, seeded by `seed`."""
    return MemoryTaskModule(
        task, net, cfg.data.batch_size, cfg.seed,
        optimiser=cfg.optim.name, lr=learning_rate(cfg.optim, cfg.model.cell),
        grad_clip=cfg.optim.grad_clip, check_every_n_steps=cfg.trainer.log_every_n_steps,
        steps_per_batch=steps_per_batch,
    )


def build_probe(probe: DictConfig, *, task: MemoryTask, val: tuple[Tensor, Tensor],
                logger: Any) -> GradientProbe:
    """The gradient probe on the first `probe.batch_size` held-out sequences, every
    `probe.every_n_steps` steps; each result goes to W&B too when there is a `logger`."""
    on_probe = None
    if logger is not None:
        def on_probe(result: ProbeResult, summaries: dict[str, Any]) -> None:
            logger.log_metrics(wandb_logging.probe_payload(result, summaries), result.step)
    size = min(probe.batch_size, len(val[0]))
    return GradientProbe(
        task, val[0][:size], val[1][:size], probe.every_n_steps,
        threshold=probe.threshold, saturation=probe.saturation, on_probe=on_probe,
        chunk_size=probe.chunk_size,
    )


def build_checkpointer(cfg: DictConfig, *, run_dir: Path) -> preemption.Checkpointer:
    """The checkpoint of `run_dir`, every `checkpoint.every_minutes` and at a stop signal,
    stamped with the config and the code it belongs to (`rnnmem.rundir` reads the stamp)."""
    stamp = {"config_hash": run_hash(cfg), "config": identity_config(cfg), **code_identity()}
    return preemption.Checkpointer(
        RunDir(run_dir).checkpoint, cfg.checkpoint.every_minutes * 60, preemption.STOP,
        cfg.trainer.val_every_n_steps, stamp)


def build_trainer(trainer: DictConfig, *, callbacks: Sequence[pl.Callback], logger: Any,
                  run_dir: Path, gpu_index: int | None, steps_per_batch: int) -> pl.Trainer:
    """Lightning's trainer for `trainer.max_steps` optimiser steps. Lightning counts batches
    for validation and logging, and each batch makes `steps_per_batch` optimiser steps, so
    those intervals are given to it in batches. No sanity check, no checkpoints of Lightning's
    own (`preemption.Checkpointer` is among the callbacks)."""
    return pl.Trainer(
        accelerator=trainer.accelerator,
        devices=devices.trainer_devices(gpu_index),
        precision=trainer.precision,
        max_steps=trainer.max_steps,  # optimiser steps, as global_step counts them
        val_check_interval=trainer.val_every_n_steps // steps_per_batch,
        check_val_every_n_epoch=None,
        log_every_n_steps=trainer.log_every_n_steps // steps_per_batch,
        logger=logger if logger is not None else False,
        callbacks=list(callbacks),
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=trainer.progress_bar,
        num_sanity_val_steps=0,
        default_root_dir=str(run_dir),
    )


def build_logger(logger: DictConfig, *, run_dir: Path, name: str, job_type: str,
                 config: Mapping[str, Any], run_id: str) -> Any:
    """The W&B run `run_id` (`rnnmem.wandb_logging.make_logger`), its files under
    `logger.save_dir` or else the run directory."""
    return wandb_logging.make_logger(
        Path(logger.save_dir or run_dir), name=name, project=logger.project,
        entity=logger.entity, group=logger.group, job_type=job_type, config=config,
        run_id=run_id)
