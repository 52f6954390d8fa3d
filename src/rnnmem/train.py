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
from torch.utils.data import DataLoader, TensorDataset

import rnnmem
from rnnmem.callbacks import GradientProbe, LearningCurves
from rnnmem.config import ConfigError, register_schemas, validate
from rnnmem.models import RecurrentNet
from rnnmem.module import MemoryTaskModule, metrics_of
from rnnmem.probe import ProbeResult
from rnnmem.record import git_commit, is_complete, write_probe_arrays, write_record
from rnnmem.tasks import heldout_set, make_task

log = logging.getLogger("rnnmem")
EVAL_BATCH = 1000  # held-out sequences per forward pass

register_schemas()
OmegaConf.register_new_resolver("direction", lambda bi: "bi" if bi else "uni", replace=True)
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
    """Train, test and record one grid point; returns the record written to `run_dir`."""
    started = time.perf_counter()
    quiet_libraries()
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads_for_job(cfg, n_jobs))
    pl.seed_everything(cfg.seed, verbose=False)
    config = OmegaConf.to_container(cfg, resolve=True)
    task = make_task(cfg.task.name, cfg.task.seq_len)
    record: dict[str, Any] = {
        "status": "failed",
        "name": cfg.name,
        "config": config,
        "baseline": task.baseline,
        "version": rnnmem.__version__,
        "git_commit": git_commit(),
        "torch_threads": torch.get_num_threads(),
    }
    logger = None
    probe: GradientProbe | None = None
    curves = LearningCurves(cfg.trainer.log_every_n_steps)
    try:
        if cfg.logger.name == "wandb":
            from rnnmem import wandb_logging

            logger = wandb_logging.make_logger(
                run_dir, cfg.name, cfg.logger.project, cfg.logger.entity, cfg.logger.group,
                cfg.task.name, config,
            )
        net = RecurrentNet(
            cfg.model.cell, task.input_size, cfg.model.hidden_size, cfg.model.depth,
            task.num_outputs, task.per_step_output, cfg.model.bidirectional, cfg.model.merge,
            cfg.model.init, cfg.model.forget_bias,
        )
        module = MemoryTaskModule(
            task, net, cfg.data.batch_size, cfg.seed, cfg.optim.name, cfg.optim.lr,
            cfg.trainer.log_every_n_steps,
        )
        cache = cfg.data.cache_dir
        val = heldout_set(task, "val", cfg.data.val_size, cfg.data.heldout_seed, cache)
        test = heldout_set(task, "test", cfg.data.test_size, cfg.data.heldout_seed, cache)
        callbacks: list[pl.Callback] = [curves]
        if cfg.probe.enabled:
            on_probe = None
            if logger is not None:
                def on_probe(result: ProbeResult, summaries: dict[str, Any]) -> None:
                    logger.log_metrics(wandb_logging.probe_payload(result, summaries), result.step)
            size = min(cfg.probe.batch_size, len(val[0]))
            probe = GradientProbe(
                task, val[0][:size], val[1][:size], cfg.probe.every_n_steps,
                cfg.probe.threshold, cfg.probe.saturation, on_probe,
            )
            callbacks.append(probe)
        trainer = pl.Trainer(
            accelerator=cfg.trainer.accelerator,
            devices=1,
            precision=cfg.trainer.precision,
            max_steps=cfg.trainer.max_steps,
            val_check_interval=cfg.trainer.val_every_n_steps,
            check_val_every_n_epoch=None,
            log_every_n_steps=cfg.trainer.log_every_n_steps,
            gradient_clip_val=cfg.optim.grad_clip,
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
        trainer.test(module, DataLoader(TensorDataset(*test), batch_size=EVAL_BATCH), verbose=False)
        metrics = metrics_of(trainer.callback_metrics, "test")
        record.update(metrics)
        record["status"] = "diverged" if module.diverged else "finished"
        record["solved"] = bool(
            not module.diverged and task.solved({k[5:]: v for k, v in metrics.items()})
        )
        record["train_steps"] = trainer.global_step
        record["fit_seconds"] = fit_seconds
        record["train_steps_per_sec"] = trainer.global_step / fit_seconds
        record["device"] = str(module.device)
    except Exception as err:  # any failure is recorded, never lost
        record["status"] = "failed"
        record["solved"] = False
        record["error"] = f"{type(err).__name__}: {err}"
        (run_dir / "error.log").write_text(traceback.format_exc())
        log.error("run %s failed: %s", cfg.name, record["error"])
    record["curves"] = {"train": curves.train, "val": curves.val}
    if probe is not None and probe.results:
        arrays = probe.arrays()
        record["probe"] = {
            "steps": arrays["steps"].tolist(),
            "seconds": probe.seconds,
            **{name: arrays[name][:, 0, 0].tolist()
               for name in ("log10_grad_ratio", "decay_rate", "memory_horizon")},
        }
        write_probe_arrays(run_dir, arrays)
        if logger is not None:
            wandb_logging.log_final_figures(logger, arrays, int(arrays["steps"][-1]))
    record["wall_seconds"] = time.perf_counter() - started
    write_record(run_dir, record)
    if logger is not None:
        logger.experiment.summary.update(
            {k: v for k, v in record.items() if isinstance(v, (int, float, str, bool))}
        )
        logger.experiment.finish(exit_code=1 if record["status"] == "failed" else 0)
    return record


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
