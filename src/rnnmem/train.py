"""Hydra entry point: `python -m rnnmem.train [overrides]` trains one grid point.

Compose and validate the config, train the fused network with Lightning while the gradient
probe watches, score it on the held-out test set, and leave the run record (and the W&B run)
in the run directory. A run that fails or diverges is recorded as such; inside a sweep it never
raises, so the other jobs go on. A run directory that already holds a finished or diverged
record is skipped, which is what makes sweeps resumable.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import datasets
import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

import rnnmem
from rnnmem import wandb_logging
from rnnmem.callbacks import GradientProbe, LearningCurves, TrainingClock
from rnnmem.config import ConfigError, direction_label, register_schemas, validate
from rnnmem.forgetting import forgetting_record
from rnnmem.models import RecurrentNet
from rnnmem.module import MemoryTaskModule, metrics_of
from rnnmem.probe import ProbeResult
from rnnmem.record import git_commit, is_complete, write_probe_arrays, write_record
from rnnmem.tasks import MemoryTask, heldout_set, make_task

log = logging.getLogger("rnnmem")
EVAL_BATCH = 1000  # held-out sequences per forward pass

register_schemas()
OmegaConf.register_new_resolver("direction", direction_label, replace=True)
OmegaConf.register_new_resolver("basename", lambda path: Path(path).name, replace=True)


def quiet_libraries() -> None:
    """Keep a run's console to what matters (Hydra configures logging after import)."""
    for noisy in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for message in (".*does not have many workers.*", ".*LeafSpec.*", ".*litlogger.*"):
        warnings.filterwarnings("ignore", message)
    datasets.disable_progress_bars()


def threads_for_job(cfg: DictConfig, n_jobs: int | None) -> int:
    """Torch threads: `threads` if set, else the cores shared among `n_jobs` parallel jobs.

    `n_jobs` follows joblib: -1 is one job per core, -2 all cores but one, None a single job.
    """
    if cfg.threads is not None:
        return int(cfg.threads)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    jobs = 1 if n_jobs is None else n_jobs if n_jobs > 0 else cores + 1 + n_jobs
    return max(1, cores // max(1, jobs))


def train_one(cfg: DictConfig, run_dir: Path, n_jobs: int | None = None) -> dict[str, Any]:
    """Train, test and record one grid point; returns the record written to `run_dir`.

    Whatever happens inside (an exception, a non-finite loss), a record is written; W&B gets
    the same numbers and is finished with a non-zero exit code when the run failed.
    """
    started, started_at = time.perf_counter(), time.time()
    quiet_libraries()
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads_for_job(cfg, n_jobs))
    pl.seed_everything(cfg.seed, verbose=False)
    config = OmegaConf.to_container(cfg, resolve=True)
    task = make_task(cfg.task.name, cfg.task.seq_len)
    record: dict[str, Any] = {
        "status": "failed",
        "solved": False,
        "name": cfg.name,
        "config": config,
        "baseline": task.baseline,
        "version": rnnmem.__version__,
        "git_commit": git_commit(),
        "torch_threads": torch.get_num_threads(),
        "started_at": started_at,
    }
    logger = None
    curves = LearningCurves(cfg.trainer.log_every_n_steps)
    probe: GradientProbe | None = None
    interrupted = False
    try:
        if cfg.logger.name == "wandb":
            logger = wandb_logging.make_logger(
                Path(cfg.logger.save_dir or run_dir), cfg.name, cfg.logger.project,
                cfg.logger.entity, cfg.logger.group, cfg.task.name, config,
            )
        val, test = (
            heldout_set(task, split, size, cfg.data.heldout_seed, cfg.data.cache_dir)
            for split, size in (("val", cfg.data.val_size), ("test", cfg.data.test_size))
        )
        if cfg.probe.enabled:
            probe = make_probe(cfg, task, val, logger)
        record.update(fit_and_test(cfg, task, run_dir, val, test, logger, curves, probe))
        interrupted = record.pop("interrupted")
    except Exception as err:  # any failure is recorded, never lost
        record["error"] = f"{type(err).__name__}: {err}"
        (run_dir / "error.log").write_text(traceback.format_exc())
        log.error("run %s failed: %s", cfg.name, record["error"])
    record["curves"] = {"train": curves.train, "val": curves.val}
    arrays = probe.arrays() if probe is not None else {}
    if arrays:
        record["probe"] = probe.record_section()
        write_probe_arrays(run_dir, arrays)
    record["wall_seconds"] = time.perf_counter() - started
    record["finished_at"] = started_at + record["wall_seconds"]
    write_record(run_dir, record)
    if logger is not None:
        wandb_logging.finish(logger, record, arrays)
    if interrupted:
        raise KeyboardInterrupt
    return record


def make_probe(
    cfg: DictConfig, task: MemoryTask, val: tuple[Tensor, Tensor], logger: Any
) -> GradientProbe:
    """The gradient probe on the first `probe.batch_size` held-out sequences."""
    on_probe = None
    if logger is not None:
        def on_probe(result: ProbeResult, summaries: dict[str, Any]) -> None:
            logger.log_metrics(wandb_logging.probe_payload(result, summaries), result.step)
    size = min(cfg.probe.batch_size, len(val[0]))
    return GradientProbe(
        task, val[0][:size], val[1][:size], cfg.probe.every_n_steps, cfg.probe.threshold,
        cfg.probe.saturation, on_probe, cfg.probe.chunk_size,
    )


def fit_and_test(
    cfg: DictConfig, task: MemoryTask, run_dir: Path, val: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor], logger: Any, curves: LearningCurves,
    probe: GradientProbe | None,
) -> dict[str, Any]:
    """Fit the fused network with Lightning, score it on the test set; the record's numbers."""
    net = RecurrentNet(
        cfg.model.cell, task.input_size, cfg.model.hidden_size, cfg.model.depth,
        task.num_outputs, task.per_step_output, cfg.model.bidirectional, cfg.model.merge,
        cfg.model.init, cfg.model.forget_bias,
    )
    module = MemoryTaskModule(
        task, net, cfg.data.batch_size, cfg.seed, cfg.optim.name, cfg.optim.lr,
        cfg.optim.grad_clip, cfg.trainer.log_every_n_steps,
    )
    clock = TrainingClock()
    # the clock comes last, so the probe (at batch start) is not counted as training time
    callbacks = [curves, *([probe] if probe is not None else []), clock]
    trainer = pl.Trainer(
        accelerator=cfg.trainer.accelerator,
        devices=1,
        precision=cfg.trainer.precision,
        max_steps=cfg.trainer.max_steps,
        val_check_interval=cfg.trainer.val_every_n_steps,
        check_val_every_n_epoch=None,
        log_every_n_steps=cfg.trainer.log_every_n_steps,
        logger=logger if logger is not None else False,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=cfg.trainer.progress_bar,
        num_sanity_val_steps=0,
        default_root_dir=str(run_dir),
    )
    fit_started = time.perf_counter()
    trainer.fit(module, val_dataloaders=DataLoader(TensorDataset(*val), batch_size=EVAL_BATCH))
    fit_seconds = time.perf_counter() - fit_started
    if trainer.interrupted:
        return {"status": "failed", "error": "interrupted", "interrupted": True}
    trainer.test(module, DataLoader(TensorDataset(*test), batch_size=EVAL_BATCH), verbose=False)
    metrics = metrics_of(trainer.callback_metrics, "test")
    solved = not module.diverged and task.solved({k[5:]: v for k, v in metrics.items()})
    forgetting = forgetting_record(task, test[0], predict(module, test[0]), test[1])
    return {
        **metrics,
        "memory_span": forgetting["memory_span"],
        "forgetting": forgetting,
        "status": "diverged" if module.diverged else "finished",
        "solved": bool(solved),
        "train_steps": trainer.global_step,
        "train_seconds": clock.seconds,
        "train_steps_per_sec": clock.steps_per_sec,
        "fit_seconds": fit_seconds,
        "device": str(module.device),
        "interrupted": False,
    }


def predict(module: MemoryTaskModule, x: Tensor) -> Tensor:
    """The trained network's outputs for held-out inputs `x`, on the CPU (batches of
    EVAL_BATCH, no gradient, eval mode)."""
    module.eval()
    with torch.no_grad():
        return torch.cat([module(batch.to(module.device)).float().cpu()
                          for batch in x.split(EVAL_BATCH)])


@hydra.main(version_base="1.3", config_path="../../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        validate(cfg)
    except ConfigError as err:
        if not in_sweep:
            print(f"rnnmem: error: {err}", file=sys.stderr)
            sys.exit(2)
        write_record(run_dir, {"status": "failed", "solved": False, "error": str(err),
                               "config": OmegaConf.to_container(cfg, resolve=True)})
        return
    if is_complete(run_dir):
        log.info("skipping %s: %s already holds a complete record", cfg.name, run_dir)
        return
    n_jobs = hydra_cfg.launcher.get("n_jobs") if in_sweep else None
    record = train_one(cfg, run_dir, n_jobs)
    if record["status"] == "failed" and not in_sweep:
        sys.exit(1)


if __name__ == "__main__":
    main()
