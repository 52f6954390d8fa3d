"""Hydra entry point: `python -m rnnmem.train [overrides]` trains one grid point.

Compose and validate the config, train the fused network with Lightning while the gradient
probe watches, score it on the held-out test set, and leave the run record (and the W&B run)
in the run directory, which the config's hash names (`rnnmem.identity`). A run that fails or
diverges is recorded as such; inside a sweep it never raises, so the other jobs go on. A run
stopped by a signal checkpoints, records `preempted` and exits non-zero (`rnnmem.preemption`);
the same command resumes it. A run directory that already holds a finished or diverged record
of the same config and code is skipped, and one that another process is training
(`rnnmem.runlock`) too, which is what makes sweeps resumable and safe to start twice; a record or
checkpoint of another config or other code is never mixed in (`rnnmem.rundir`).
"""

from __future__ import annotations

import contextlib
import hashlib
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

import rnnmem
from rnnmem import devices, item_memory, preemption, wandb_logging
from rnnmem.budget import sizing
from rnnmem.callbacks import GradientProbe, LearningCurves, TrainingClock
from rnnmem.code_identity import code_identity
from rnnmem.config import (
    ConfigError,
    direction_label,
    learning_rate,
    register_schemas,
)
from rnnmem.environment import environment
from rnnmem.forgetting import forgetting_record
from rnnmem.identity import identity_config, place_id, run_hash, short_hash, wandb_run_id
from rnnmem.lr_search import objective_of
from rnnmem.models import RecurrentNet
from rnnmem.module import MemoryTaskModule, check_devices, device_batches, metrics_of
from rnnmem.preemption import (
    CHECKPOINT_FILE,
    Checkpointer,
    device_refusal,
    resumable_checkpoint,
)
from rnnmem.preflight import preflight
from rnnmem.probe import ProbeResult
from rnnmem.record import PROBE_FILE, RECORD_FILE, read_record, write_probe_arrays, write_record
from rnnmem.rundir import CodeChanged, RunDirConflict, verdict
from rnnmem.runlock import RunLock
from rnnmem.tasks import MemoryTask, heldout_set, make_task

log = logging.getLogger("rnnmem")
EVAL_BATCH = 1000  # held-out sequences per forward pass

register_schemas()
OmegaConf.register_new_resolver("direction", direction_label, replace=True)
OmegaConf.register_new_resolver("basename", lambda path: Path(path).name, replace=True)
OmegaConf.register_new_resolver("run_hash", short_hash, replace=True)
OmegaConf.register_new_resolver("sweep_jobs", devices.sweep_jobs, replace=True)


def quiet_libraries() -> None:
    """Keep a run's console to what matters (Hydra configures logging after import)."""
    for noisy in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for message in (".*does not have many workers.*", ".*LeafSpec.*", ".*litlogger.*",
                    ".*`srun` command is available.*"):
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


def weights_digest(net: torch.nn.Module) -> str:
    """sha256 of the trained parameters' bytes, in state-dict order: equal digests, equal bits."""
    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def train_one(
    cfg: DictConfig, run_dir: Path, n_jobs: int | None = None, gpu_index: int | None = None,
    place: str | None = None,
) -> dict[str, Any]:
    """Train, test and record one grid point; returns the record written to `run_dir`.

    Whatever happens inside (an exception, a non-finite loss, a stop signal, a full disk), a
    record is written where the disk allows: `finished`, `diverged`, `failed` with the error, or
    `preempted` with the step of the checkpoint the next attempt resumes from. W&B gets the same
    numbers, in the one W&B run that the config's hash names. `gpu_index` is the CUDA device a
    sweep placed the job on (`rnnmem.devices.Placement`); `place` salts the W&B run id (the
    sweep directory's `place_id`; default: the run directory's).
    """
    started, started_at = time.perf_counter(), time.time()
    preemption.STOP.install()
    logging.raiseExceptions = False  # a full disk under the log file: no traceback per line
    quiet_libraries()
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads_for_job(cfg, n_jobs))
    pl.seed_everything(cfg.seed, verbose=False)
    config = OmegaConf.to_container(cfg, resolve=True)
    config_hash = run_hash(cfg)
    task = make_task(cfg.task.name, cfg.task.seq_len, cfg.task.delay)
    # what the model trains with: hidden size (param_budget may pick it), parameters, lr
    trained_with = {**sizing(cfg.model, task), "lr": learning_rate(cfg.optim, cfg.model.cell)}
    record: dict[str, Any] = {
        "status": "failed",
        "solved": False,
        "name": cfg.name,
        "config": config,
        "config_hash": config_hash,
        "baseline": task.baseline,
        "version": rnnmem.__version__,
        **code_identity(),
        "torch_threads": torch.get_num_threads(),
        "environment": environment(torch.device("cpu")),  # the training device's, once known
        "started_at": started_at,
        **trained_with,
    }
    if cfg.logger.name == "wandb":
        record["wandb_run_id"] = wandb_run_id(config_hash, cfg.logger.group,
                                              place or place_id(run_dir))
    if os.environ.get(wandb_logging.FALLBACK_ENV) and cfg.logger.name == "wandb":
        record["wandb_fallback"] = os.environ[wandb_logging.FALLBACK_ENV]
    logger = None
    curves = LearningCurves(cfg.trainer.log_every_n_steps)
    probe: GradientProbe | None = None
    interrupted = False
    try:
        if cfg.logger.name == "wandb":
            logger = wandb_logging.make_logger(
                Path(cfg.logger.save_dir or run_dir), cfg.name, cfg.logger.project,
                cfg.logger.entity, cfg.logger.group, cfg.task.name, {**config, **trained_with},
                record["wandb_run_id"],
            )
        val, test = (
            heldout_set(task, split, size, cfg.data.heldout_seed, cfg.data.cache_dir)
            for split, size in (("val", cfg.data.val_size), ("test", cfg.data.test_size))
        )
        if cfg.probe.enabled:
            probe = make_probe(cfg, task, val, logger)
        record.update(
            fit_and_test(cfg, task, run_dir, val, test, logger, curves, probe, gpu_index)
        )
        interrupted = record.pop("interrupted")
    except Exception as err:  # any failure is recorded, never lost
        record["error"] = f"{type(err).__name__}: {err}"
        with contextlib.suppress(OSError):
            (run_dir / "error.log").write_text(traceback.format_exc())
        log.error("run %s failed: %s", cfg.name, record["error"])
    record["curves"] = {"train": curves.train, "val": curves.val}
    write_outcome(cfg, run_dir, record, probe, logger, started)
    if preemption.STOP.received is None:
        preemption.STOP.restore()
    if interrupted:
        raise KeyboardInterrupt
    return record


def write_outcome(
    cfg: DictConfig, run_dir: Path, record: dict[str, Any], probe: GradientProbe | None,
    logger: Any, started: float,
) -> None:
    """The record-writing path: probe arrays, then W&B, then `record.json`, each atomic.

    An artefact that cannot be written (a full disk) turns the record into `failed` naming the
    error, so a `finished` record never stands beside a broken artefact; a record that cannot
    be written either is reported in one line (the run has no record and trains again on
    resume). The checkpoint of a run that ended is removed once its record is written; one the
    record names (`checkpoint`: a preempted run, or one refused on another device kind) stays."""
    arrays = probe.arrays() if probe is not None else {}
    record["wall_seconds"] = time.perf_counter() - started
    record["finished_at"] = record["started_at"] + record["wall_seconds"]
    try:
        if arrays:
            record["probe"] = probe.record_section()
            write_probe_arrays(run_dir, arrays)
    except Exception as err:  # a full disk: the record says so
        fail(record, f"writing {run_dir / PROBE_FILE} failed: {type(err).__name__}: {err}")
    if logger is not None:
        try:
            wandb_logging.finish(logger, record, arrays)
        except Exception as err:
            message = f"finishing the W&B run failed: {type(err).__name__}: {err}"
            if preemption.STOP.received is None:
                fail(record, message)  # a full disk: W&B's files are incomplete
            else:  # the stop signal reached W&B's service process too; the numbers are local
                record["wandb_error"] = message
                log.warning("run %s: %s", cfg.name, message)
    try:
        write_record(run_dir, record)
    except OSError as err:
        fail(record, f"cannot write {run_dir / RECORD_FILE}: {err}")
        return
    checkpoint = run_dir / CHECKPOINT_FILE
    if "checkpoint" not in record and not cfg.checkpoint.keep:  # kept: preempted, or refused
        checkpoint.unlink(missing_ok=True)


def fail(record: dict[str, Any], error: str) -> None:
    """Mark `record` failed with `error` (one line), and say so."""
    record.update(status="failed", solved=False, error=error)
    log.error("run %s failed: %s", record["name"], error)


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
    probe: GradientProbe | None, gpu_index: int | None = None,
) -> dict[str, Any]:
    """Fit the fused network with Lightning, score it on the test set; the record's numbers.

    Lightning counts batches for validation and logging; each batch makes `k` optimiser steps
    (`check_devices`), so those intervals are given to it in batches."""
    k = check_devices(cfg)
    devices.set_tf32(cfg.trainer.tf32)
    net = RecurrentNet(
        cfg.model.cell, task.input_size, sizing(cfg.model, task)["hidden_size"], cfg.model.depth,
        task.num_outputs, task.per_step_output, cfg.model.bidirectional, cfg.model.merge,
        cfg.model.init, cfg.model.forget_bias,
    )
    # the intervention view at init, on the test set (the same initial weights on resume)
    items_init = (item_memory.item_memory(net, task, test[0], "intervention")
                  if item_memory.defined_for(task) else None)
    module = MemoryTaskModule(
        task, net, cfg.data.batch_size, cfg.seed, cfg.optim.name,
        learning_rate(cfg.optim, cfg.model.cell),
        cfg.optim.grad_clip, cfg.trainer.log_every_n_steps, k,
    )
    clock = TrainingClock()
    checkpointer = Checkpointer(
        run_dir / CHECKPOINT_FILE, cfg.checkpoint.every_minutes * 60, preemption.STOP,
        cfg.trainer.val_every_n_steps,
        {"config_hash": run_hash(cfg), "config": identity_config(cfg), **code_identity()})
    # the clock comes after the probe (at batch start), which is not training time; the
    # checkpointer last, so that the other callbacks' state of this step is in the checkpoint
    callbacks = [curves, *([probe] if probe is not None else []), clock, checkpointer]
    trainer = pl.Trainer(
        accelerator=cfg.trainer.accelerator,
        devices=devices.trainer_devices(gpu_index),
        precision=cfg.trainer.precision,
        max_steps=cfg.trainer.max_steps,  # optimiser steps, as global_step counts them
        val_check_interval=cfg.trainer.val_every_n_steps // k,
        check_val_every_n_epoch=None,
        log_every_n_steps=cfg.trainer.log_every_n_steps // k,
        logger=logger if logger is not None else False,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=cfg.trainer.progress_bar,
        num_sanity_val_steps=0,
        default_root_dir=str(run_dir),
    )
    resume = resumable_checkpoint(run_dir)
    device = trainer.strategy.root_device
    refusal = device_refusal(resume, device) if resume else None
    if refusal is not None:  # the checkpoint stays for a run on its own device kind
        return {"status": "failed", "error": refusal, "checkpoint": CHECKPOINT_FILE,
                "interrupted": False}
    determinism = devices.set_determinism(cfg.trainer.deterministic, device)
    fit_started = time.perf_counter()
    resumed = {"resumed_from_step": resume.step} if resume else {}
    try:
        trainer.fit(module, ckpt_path=resume.path if resume else None, weights_only=False,
                    val_dataloaders=device_batches(*val, device, EVAL_BATCH))
    except Exception as err:
        if checkpointer.stopped_at is None:
            raise
        # after the checkpoint: on SLURM the signal also stops W&B's service process
        resumed["wandb_error"] = f"{type(err).__name__}: {err}"
    fit_seconds = time.perf_counter() - fit_started
    if trainer.interrupted and checkpointer.stopped_at is None:
        return {"status": "failed", "error": "interrupted", "interrupted": True, **resumed}
    if checkpointer.stopped_at is not None:
        return {"status": "preempted", "train_steps": checkpointer.stopped_at,
                "signal": preemption.STOP.name, "checkpoint": CHECKPOINT_FILE,
                "interrupted": False, **resumed}
    trainer.test(module, device_batches(*test, device, EVAL_BATCH), verbose=False)
    metrics = metrics_of(trainer.callback_metrics, "test")
    solved = not module.diverged and task.solved({k[5:]: v for k, v in metrics.items()})
    forgetting = forgetting_record(task, test[0], predict(module, test[0], device), test[1])
    items = item_memory.intervention_section(module.net, task, test[0], trainer.global_step,
                                             items_init)
    return {
        **metrics,
        "memory_span": forgetting["memory_span"],
        "forgetting": forgetting,
        **items,
        "status": "diverged" if module.diverged else "finished",
        "solved": bool(solved),
        "train_steps": trainer.global_step,
        "train_seconds": clock.seconds,
        "train_steps_per_sec": clock.steps_per_sec,
        "fit_seconds": fit_seconds,
        "device": str(device),
        "steps_per_batch": k,
        "weights_sha256": weights_digest(net),
        "precision": {"training": cfg.trainer.precision, "evaluation": "32-true",
                      "recurrent_dtype": devices.recurrent_dtype(
                          net, trainer.precision_plugin.forward_context(), task.input_size,
                          device),
                      **devices.tf32_flags()},
        "determinism": determinism,
        "environment": environment(device),
        "interrupted": False,
        **resumed,
    }


def predict(module: MemoryTaskModule, x: Tensor, device: torch.device) -> Tensor:
    """The trained network's outputs for held-out inputs `x`, computed on `device`, the one it
    trained on (Lightning's teardown after `trainer.test` moved it to the CPU), returned on
    the CPU: batches of EVAL_BATCH, no gradient, eval mode, float32."""
    module.to(device).eval()
    with torch.no_grad():
        return torch.cat([module(batch.to(device)).float().cpu()
                          for batch in x.split(EVAL_BATCH)])


@hydra.main(version_base="1.3", config_path="../../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Train one grid point; returns the search objective (`rnnmem.lr_search.objective_of`:
    the last validation value of the task's metric, None unless the run finished)."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    # first, before anything calls CUDA: cuBLAS's workspace setting, and in a local sweep this
    # process's GPU, the least-loaded one (rnnmem.devices); submitit's jobs have SLURM's
    devices.deterministic_environment(cfg.trainer.deterministic)
    places = (in_sweep and cfg.trainer.accelerator != "cpu"
              and devices.places_own_gpu(str(hydra_cfg.launcher.get("_target_"))))
    gpu_index = devices.PLACEMENT.place(Path(hydra_cfg.sweep.dir)) if places else None
    try:
        preflight(cfg)
    except (ConfigError, wandb_logging.WandbUnavailable) as err:
        if not in_sweep:
            print(f"rnnmem: error: {err}", file=sys.stderr)
            sys.exit(2)
        log.error("run %s failed: %s", cfg.name, err)
        write_record(run_dir, {"status": "failed", "solved": False, "error": str(err),
                               "name": cfg.name, "config_hash": run_hash(cfg),
                               "config": OmegaConf.to_container(cfg, resolve=True)})
        return None
    lock = RunLock(run_dir)
    if not lock.acquire():
        log.info("skipping %s: another process is training %s", cfg.name, run_dir)
        return None
    try:
        try:
            held = verdict(run_dir, run_hash(cfg), identity_config(cfg), cfg.on_code_change)
        except (RunDirConflict, CodeChanged) as err:
            if not in_sweep:
                print(f"rnnmem: error: {err}", file=sys.stderr)
                sys.exit(2)
            log.error("not running %s: %s", cfg.name, err)
            return None
        if held.skip:
            log.info("skipping %s: %s", cfg.name, held.reason)
            return objective_of(read_record(run_dir))
        if preemption.STOP.received is not None:
            log.info("skipping %s: this process received %s", cfg.name, preemption.STOP.name)
            return None
        n_jobs = hydra_cfg.launcher.get("n_jobs") if in_sweep else None
        place = place_id(Path(hydra_cfg.sweep.dir)) if in_sweep else None
        record = train_one(cfg, run_dir, n_jobs, gpu_index, place)
    finally:
        lock.release()
    one_job_per_process = not in_sweep or "submitit" in str(hydra_cfg.launcher.get("_target_"))
    if record["status"] == "preempted" and one_job_per_process:
        log.info("preempted at step %d by %s; rerun the same command to resume from %s",
                 record["train_steps"], preemption.STOP.name, run_dir / CHECKPOINT_FILE)
        signum = preemption.STOP.received
        preemption.STOP.chain_previous()  # submitit's handler: requeue the job
        sys.exit(128 + signum)
    if record["status"] == "failed" and not in_sweep:
        print(f"rnnmem: error: run {cfg.name} failed: {record['error']}", file=sys.stderr)
        sys.exit(1)
    return objective_of(record)


if __name__ == "__main__":
    main()
