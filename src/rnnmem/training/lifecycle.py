"""One run's lifecycle: train, test and record one grid point in its run directory.

    train_one = opening_record         what is known before training
              ; build                  logger, held-out sets, probe (`rnnmem.training.build`)
              ; fit                    the network, its module and trainer; Lightning's fit,
                                       resumed from the run's checkpoint where there is one
              ; tested                 a run that ended: the test set's metrics, `solved`, the
                                       forgetting curve and the intervention view of item memory
              ; how_it_trained         steps, timings, device, precision, determinism, weights
              ; write_outcome          probe arrays, W&B, then record.json, each atomic

Whatever happens inside (an exception, a non-finite loss, a stop signal, a full disk), a record
is written where the disk allows: `finished`, `diverged`, `failed` with the error, or
`preempted` with the step of the checkpoint the next attempt resumes from. The record's type is
`rnnmem.rundir.record.RunRecord`. The run receives its config typed (`rnnmem.config.RunConfig`)
and its identity (`rnnmem.rundir.identity.RunIdentity`) from the entry point, `rnnmem.train`,
whose are the exit codes and the run directory's lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import pytorch_lightning as pl
import torch
from torch import Tensor

import rnnmem
from rnnmem.config import DataConfig, RunConfig
from rnnmem.hardware import cores
from rnnmem.measures import item_memory
from rnnmem.measures.forgetting import forgetting_record
from rnnmem.models import RecurrentNet, denormals
from rnnmem.models.budget import sizing
from rnnmem.models.optimisers import learning_rate
from rnnmem.models.param_groups import settings_of
from rnnmem.rundir.checkpoint import device_refusal, resumable_checkpoint
from rnnmem.rundir.code import code_identity
from rnnmem.rundir.environment import environment
from rnnmem.rundir.identity import RunIdentity, place_id, wandb_run_id
from rnnmem.rundir.paths import RunDir
from rnnmem.rundir.record import TRAINED_WITH, RunRecord, write_probe_arrays, write_record
from rnnmem.tasks import MemoryTask, heldout_set, task_from_config
from rnnmem.tasks.heldout import split_seed
from rnnmem.tracking import wandb_run
from rnnmem.training import precision, preemption
from rnnmem.training.build import (
    build_checkpointer,
    build_logger,
    build_module,
    build_net,
    build_probe,
    build_trainer,
)
from rnnmem.training.callbacks import GradientProbe, LearningCurves, TrainingClock
from rnnmem.training.module import MemoryTaskModule, device_batches, metrics_of
from rnnmem.training.schedule import schedule_of

log = logging.getLogger("rnnmem")
EVAL_BATCH = 1000  # held-out sequences per forward pass
HeldOut = tuple[Tensor, Tensor]  # (inputs, targets) of a held-out set


def quiet_libraries() -> None:
    """Keep a run's console to what matters (Hydra configures logging after import)."""
    for noisy in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for message in (".*does not have many workers.*", ".*LeafSpec.*", ".*litlogger.*",
                    ".*`srun` command is available.*"):
        warnings.filterwarnings("ignore", message)
    datasets.disable_progress_bars()


def threads_for_job(threads: int | None, n_jobs: int | None) -> int:
    """Torch threads: `threads` if set, else the cores shared among `n_jobs` parallel jobs.

    `n_jobs` follows joblib: -1 is one job per core, -2 all cores but one, None a single job.
    """
    if threads is not None:
        return int(threads)
    available = cores()
    jobs = 1 if n_jobs is None else n_jobs if n_jobs > 0 else available + 1 + n_jobs
    return max(1, available // max(1, jobs))


def weights_digest(net: torch.nn.Module) -> str:
    """sha256 of the trained parameters' bytes, in state-dict order: equal digests, equal bits."""
    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def opening_record(cfg: RunConfig, identity: RunIdentity, task: MemoryTask, run_dir: Path,
                   place: str | None) -> RunRecord:
    """What the record states before training: `failed` until the run says otherwise, the
    config and its hash, the code, the environment, and what the model trains with."""
    record: RunRecord = {
        "status": "failed",
        "solved": False,
        "name": cfg.name,
        "config": identity.config,
        "config_hash": identity.hash,
        "baseline": task.baseline,
        "baselines": task.baselines,
        "version": rnnmem.__version__,
        **code_identity(),
        "torch_threads": torch.get_num_threads(),
        "environment": environment(torch.device("cpu")),  # the training device's, once known
        "started_at": time.time(),
        **sizing(cfg.model, task),
        "lr": learning_rate(cfg.optim, cfg.model.cell),
        "param_groups": settings_of(cfg.optim, cfg.model.cell),
    }
    if cfg.logger.name == "wandb":
        record["wandb_run_id"] = wandb_run_id(identity.hash, cfg.logger.group,
                                              place or place_id(run_dir))
        if os.environ.get(wandb_run.FALLBACK_ENV):
            record["wandb_fallback"] = os.environ[wandb_run.FALLBACK_ENV]
    return record


def heldout_sets(data: DataConfig, task: MemoryTask) -> tuple[HeldOut, HeldOut]:
    """The run's fixed validation and test sets (`rnnmem.tasks.heldout`), cached on disk."""
    val, test = (heldout_set(task, split, size, data.heldout_seed, data.cache_dir)
                 for split, size in (("val", data.val_size), ("test", data.test_size)))
    return val, test


def item_set(task: MemoryTask, items_per_lag: int, seed: int, split: str) -> Tensor:
    """A stratified item set of the memory measures (`MemoryTask.memory_set`): at least
    `items_per_lag` items at every lag, drawn on the CPU from a generator seeded by (`seed`,
    `split`), the same on every machine; "items" feeds the probe and end views, "storage"
    the storage view's read-out (`rnnmem.measures.item_memory`)."""
    return task.memory_set(items_per_lag, torch.Generator().manual_seed(split_seed(seed, split)))


def train_one(
    cfg: RunConfig, run_dir: Path, *, identity: RunIdentity, steps_per_batch: int,
    n_jobs: int | None = None, gpu_index: int | None = None, place: str | None = None,
) -> RunRecord:
    """Train, test and record one grid point; returns the record written to `run_dir`.

    W&B gets the same numbers, in the one W&B run that the config's hash names. `identity` is
    the run's (`RunIdentity.of` its composed config); `steps_per_batch` what the caller's
    preflight found (`rnnmem.preflight.check_devices`); `n_jobs` the number of parallel jobs
    sharing the cores (`threads_for_job`); `gpu_index` the CUDA device a sweep placed the job
    on (`rnnmem.sweeps.placement`); `place` salts the W&B run id (the sweep directory's
    `place_id`; default: the run directory's). A run stopped by Ctrl-C without a checkpoint
    records `failed` and raises KeyboardInterrupt."""
    started = time.perf_counter()
    preemption.STOP.install()
    logging.raiseExceptions = False  # a full disk under the log file: no traceback per line
    quiet_libraries()
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads_for_job(cfg.threads, n_jobs))
    pl.seed_everything(cfg.seed, verbose=False)
    task = task_from_config(cfg.task)
    record = opening_record(cfg, identity, task, run_dir, place)
    logger = None
    curves = LearningCurves(schedule_of(cfg, "trainer.log_every_n_steps"))
    probe: GradientProbe | None = None
    interrupted = False
    try:
        if cfg.logger.name == "wandb":
            trained_with = {key: record[key] for key in TRAINED_WITH}
            logger = build_logger(
                cfg.logger, run_dir=run_dir, name=cfg.name, job_type=cfg.task.name,
                config={**record["config"], **trained_with}, run_id=record["wandb_run_id"])
        val, test = heldout_sets(cfg.data, task)
        items = (item_set(task, cfg.probe.items_per_lag, cfg.data.heldout_seed, "items")
                 if item_memory.defined_for(task) else None)
        if cfg.probe.enabled:
            probe = build_probe(cfg.probe, task=task, val=val, items=items, logger=logger)
        outcome = fit_and_test(cfg, identity, task=task, run_dir=run_dir, heldout=(val, test),
                               items=items, logger=logger, callbacks=(curves, probe),
                               gpu_index=gpu_index, steps_per_batch=steps_per_batch)
        record.update(outcome.fields)
        interrupted = outcome.interrupted
    except KeyboardInterrupt:  # a second Ctrl-C outside the fit (held-out sets, the test)
        record["error"] = "interrupted"
        interrupted = True
    except Exception as err:  # any failure is recorded, never lost
        record["error"] = f"{type(err).__name__}: {err}"
        with contextlib.suppress(OSError):
            RunDir(run_dir).error_log.write_text(traceback.format_exc())
        log.error("run %s failed: %s", cfg.name, record["error"])
    record["curves"] = {"train": curves.train, "val": curves.val}
    write_outcome(cfg, run_dir, record, probe=probe, logger=logger, started=started)
    if preemption.STOP.received is None:
        preemption.STOP.restore()
    if interrupted:
        raise KeyboardInterrupt
    return record


def write_outcome(cfg: RunConfig, run_dir: Path, record: RunRecord, *,
                  probe: GradientProbe | None, logger: Any, started: float) -> None:
    """The record-writing path: probe arrays, then W&B, then `record.json`, each atomic.

    An artefact that cannot be written (a full disk) turns the record into `failed` naming the
    error, so a `finished` record never stands beside a broken artefact; a record that cannot
    be written either is reported in one line (the run has no record and trains again on
    resume). The checkpoint of a run that ended is removed once its record is written; one the
    record names (`checkpoint`: a preempted run, or one refused on another device kind) stays."""
    files = RunDir(run_dir)
    arrays = probe.arrays() if probe is not None else {}
    record["wall_seconds"] = time.perf_counter() - started
    record["finished_at"] = record["started_at"] + record["wall_seconds"]
    try:
        if arrays:
            record["probe"] = probe.record_section()
            write_probe_arrays(run_dir, arrays)
    except Exception as err:  # a full disk: the record says so
        fail(record, f"writing {files.probe} failed: {type(err).__name__}: {err}")
    if logger is not None:
        if logger.error is not None:  # logging after a stop signal failed (`RunLogger`)
            record.setdefault("wandb_error", logger.error)
        try:
            wandb_run.finish(logger, record, arrays)
        except Exception as err:
            message = f"finishing the W&B run failed: {type(err).__name__}: {err}"
            if preemption.STOP.received is None:
                fail(record, message)  # a full disk: W&B's files are incomplete
            else:  # the stop signal reached W&B's service process too; the numbers are local
                record.setdefault("wandb_error", message)
                log.warning("run %s: %s", cfg.name, message)
    try:
        write_record(run_dir, record)
    except OSError as err:
        fail(record, f"cannot write {files.record}: {err}")
        return
    if "checkpoint" not in record and not cfg.checkpoint.keep:  # kept: preempted, or refused
        files.checkpoint.unlink(missing_ok=True)


def fail(record: RunRecord, error: str) -> None:
    """Mark `record` failed with `error` (one line), and say so."""
    record.update(status="failed", solved=False, error=error)
    log.error("run %s failed: %s", record["name"], error)


@dataclass(frozen=True)
class Outcome:
    """What `fit_and_test` adds to the record, and whether Ctrl-C interrupted the fit before
    any checkpoint (the run then raises KeyboardInterrupt once its record is written)."""

    fields: RunRecord
    interrupted: bool = False


@dataclass
class Fitted:
    """What `fit` leaves: the trained module and its trainer, where and how it trained, what
    the record states of the fit (`resumed`: the step it resumed from, a W&B error after a
    stop signal), and, for a run that did not end (refused, interrupted, preempted), its
    `stopped` outcome instead of a test."""

    module: MemoryTaskModule
    trainer: pl.Trainer
    clock: TrainingClock
    device: torch.device
    determinism: dict[str, Any] = field(default_factory=dict)
    fit_seconds: float = 0.0
    resumed: RunRecord = field(default_factory=dict)
    stopped: Outcome | None = None


def fit_and_test(
    cfg: RunConfig, identity: RunIdentity, *, task: MemoryTask, run_dir: Path,
    heldout: tuple[HeldOut, HeldOut], items: Tensor | None, logger: Any,
    callbacks: tuple[LearningCurves, GradientProbe | None], gpu_index: int | None,
    steps_per_batch: int,
) -> Outcome:
    """Fit the network (`fit`); for a run that ended, score it on the test set (`tested`) and
    state how it trained (`how_it_trained`): the record's numbers.

    `heldout` is (validation, test); `items` the item set of the memory measures (None: the
    task states no items); `callbacks` the learning curves and the probe (None when it is
    off), which the caller records whatever happens here."""
    (val, test), (curves, probe) = heldout, callbacks
    precision.set_tf32(cfg.trainer.tf32)
    net = build_net(cfg.model, task)
    # item memory's end views at init (the same initial weights on resume): on the item set,
    # storage on a set sized for the net's read-out
    memory = None
    if items is not None:
        storage = item_set(task, item_memory.storage_items_per_lag(
            net, task, cfg.probe.items_per_lag), cfg.data.heldout_seed, "storage")
        memory = ItemMemory(items, storage, item_memory.end_views(net, task, items, storage))
    fitted = fit(cfg, identity, task=task, net=net, run_dir=run_dir, val=val, logger=logger,
                 callbacks=[curves, *([probe] if probe is not None else [])],
                 gpu_index=gpu_index, steps_per_batch=steps_per_batch)
    if fitted.stopped is not None:
        return fitted.stopped
    if probe is not None:  # resumed at its last step, the run skipped on_train_end's probe
        probe.finish(fitted.module.to(fitted.device), fitted.trainer.global_step)
    return Outcome({**tested(fitted, task, test, memory, cfg.probe.items_per_lag),
                    **how_it_trained(cfg, fitted, task, steps_per_batch)})


def fit(cfg: RunConfig, identity: RunIdentity, *, task: MemoryTask, net: RecurrentNet,
        run_dir: Path, val: HeldOut, logger: Any, callbacks: list[pl.Callback],
        gpu_index: int | None, steps_per_batch: int) -> Fitted:
    """Lightning's fit of `net` on `task`, from the run's checkpoint where one resumes on this
    device kind, validated on `val`; a stop signal checkpoints and stops it (`stopped`:
    `preempted`), Ctrl-C before any checkpoint interrupts it (`failed`, interrupted), and a
    checkpoint of another device kind is refused before anything trains."""
    module = build_module(cfg, task=task, net=net, steps_per_batch=steps_per_batch)
    clock = TrainingClock()
    stamp = {"config_hash": identity.hash, "config": identity.identity, **code_identity()}
    checkpointer = build_checkpointer(cfg.checkpoint, run_dir=run_dir, stamp=stamp,
                                      validation=schedule_of(cfg, "trainer.val_every_n_steps"))
    # the clock comes after the probe (at batch start), which is not training time; the
    # checkpointer last, so that the other callbacks' state of this step is in the checkpoint
    trainer = build_trainer(cfg.trainer, callbacks=[*callbacks, clock, checkpointer],
                            logger=logger, run_dir=run_dir, gpu_index=gpu_index,
                            steps_per_batch=steps_per_batch)
    device = trainer.strategy.root_device
    fitted = Fitted(module, trainer, clock, device)
    resume = resumable_checkpoint(run_dir)
    refusal = device_refusal(resume, device) if resume else None
    if refusal is not None:  # the checkpoint stays for a run on its own device kind
        fitted.stopped = Outcome({"status": "failed", "error": refusal,
                                  "checkpoint": RunDir.CHECKPOINT})
        return fitted
    fitted.determinism = precision.set_determinism(cfg.trainer.deterministic, device)
    fit_started = time.perf_counter()
    if resume:
        fitted.resumed["resumed_from_step"] = resume.step
    try:
        trainer.fit(module, ckpt_path=resume.path if resume else None, weights_only=False,
                    val_dataloaders=device_batches(*val, device, EVAL_BATCH))
    except Exception as err:
        if checkpointer.stopped_at is None:
            raise
        # after the checkpoint: on SLURM the signal also stops W&B's service process
        fitted.resumed["wandb_error"] = f"{type(err).__name__}: {err}"
    fitted.fit_seconds = time.perf_counter() - fit_started
    if trainer.interrupted and checkpointer.stopped_at is None:
        fitted.stopped = Outcome({"status": "failed", "error": "interrupted", **fitted.resumed},
                                 interrupted=True)
    elif checkpointer.stopped_at is not None:
        fitted.stopped = Outcome({"status": "preempted", "train_steps": checkpointer.stopped_at,
                                  "signal": preemption.STOP.name,
                                  "checkpoint": RunDir.CHECKPOINT, **fitted.resumed})
    return fitted


@dataclass(frozen=True)
class ItemMemory:
    """Item memory's sets (the item set, the storage set) and its end views at init."""

    items: Tensor
    storage: Tensor
    at_init: dict[str, dict[str, Any]]


def tested(fitted: Fitted, task: MemoryTask, test: HeldOut, memory: ItemMemory | None,
           items_per_lag: int) -> RunRecord:
    """The test set's metrics of the trained network, `status` (finished or diverged) and
    `solved`, its forgetting curve (`memory_span`, `forgetting`) and item memory's end views
    (`rnnmem.measures.item_memory.record_section`) at the end beside those at init."""
    module, trainer = fitted.module, fitted.trainer
    trainer.test(module, device_batches(*test, fitted.device, EVAL_BATCH), verbose=False)
    metrics = metrics_of(trainer.callback_metrics, "test")
    solved = not module.diverged and task.solved({k[5:]: v for k, v in metrics.items()})
    forgetting = forgetting_record(task, test[0], predict(module, test[0], fitted.device),
                                   test[1], bidirectional=module.net.num_directions == 2)
    items = {} if memory is None else item_memory.record_section(
        task, memory.at_init, item_memory.end_views(module.net, task, memory.items,
                                                    memory.storage),
        trainer.global_step, items_per_lag)
    return {
        **metrics,
        "memory_span": forgetting["memory_span"],
        "forgetting": forgetting,
        **items,
        "status": "diverged" if module.diverged else "finished",
        "solved": bool(solved),
    }


def how_it_trained(cfg: RunConfig, fitted: Fitted, task: MemoryTask,
                   steps_per_batch: int) -> RunRecord:
    """How the run trained: its steps and timings, the device and its software stack, the
    precision (the recurrence's real dtype) and determinism, and the trained weights' digest."""
    net, trainer = fitted.module.net, fitted.trainer
    return {
        "train_steps": trainer.global_step,
        "train_seconds": fitted.clock.seconds,
        "train_steps_per_sec": fitted.clock.steps_per_sec,
        "fit_seconds": fitted.fit_seconds,
        "device": str(fitted.device),
        "steps_per_batch": steps_per_batch,
        "weights_sha256": weights_digest(net),
        "precision": {"training": cfg.trainer.precision, "evaluation": "32-true",
                      "recurrent_dtype": precision.recurrent_dtype(
                          net, trainer.precision_plugin.forward_context(), task.input_size,
                          fitted.device),
                      **precision.tf32_flags()},
        "determinism": fitted.determinism,
        "environment": environment(fitted.device),
        **fitted.resumed,
    }


def predict(module: MemoryTaskModule, x: Tensor, device: torch.device) -> Tensor:
    """The trained network's outputs for held-out inputs `x`, computed on `device`, the one it
    trained on (Lightning's teardown after `trainer.test` moved it to the CPU), returned on
    the CPU: batches of EVAL_BATCH, no gradient, eval mode, float32, no subnormal flushing."""
    module.to(device).eval()
    with torch.no_grad(), denormals.exact():
        return torch.cat([module(batch.to(device)).float().cpu()
                          for batch in x.split(EVAL_BATCH)])
