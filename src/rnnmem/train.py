"""Hydra entry point: `python -m rnnmem.train [overrides]` trains one grid point.

Compose and validate the config (`rnnmem.preflight`), then train, test and record the run in its run
directory, which the config's hash names (`rnnmem.rundir.identity`; the lifecycle is
`rnnmem.training.lifecycle`'s). A run that fails or diverges is recorded as such; inside a sweep it
never raises, so the other jobs go on. A run stopped by a signal checkpoints, records `preempted`
and exits non-zero (`rnnmem.training.preemption`); the same command resumes it. A run directory that
already holds a finished or diverged record of the same config and code is skipped, and one that
another process is training (`rnnmem.rundir.lock`) too, which is what makes sweeps resumable and
safe to start twice; a record or checkpoint of another config or other code is never mixed in
(`rnnmem.rundir.verdict`).

Exit codes: 0 done (or skipped), 1 the run failed, 2 a bad value or a run directory of another
config or code, 128 + signal preempted.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from rnnmem.config import ConfigError, register_config
from rnnmem.preflight import check_devices, preflight
from rnnmem.reporting.records import objective_of
from rnnmem.rundir.identity import identity_config, place_id, run_hash
from rnnmem.rundir.lock import RunLock
from rnnmem.rundir.paths import RunDir
from rnnmem.rundir.record import RunRecord, read_record, write_record
from rnnmem.rundir.verdict import CodeChanged, RunDirConflict, verdict
from rnnmem.sweeps import placement
from rnnmem.tracking import wandb_run
from rnnmem.training import lifecycle, precision, preemption
from rnnmem.training.lifecycle import refused_record

log = logging.getLogger("rnnmem")


@hydra.main(version_base="1.3", config_path="../../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Train one grid point; returns the search objective (`rnnmem.sweeps.lr_search.objective_of`:
    the last validation value of the task's metric, None unless the run finished)."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    # first, before anything calls CUDA: cuBLAS's workspace setting, and in a local sweep this
    # process's GPU, the least-loaded one (rnnmem.training.precision); submitit's jobs have SLURM's
    precision.deterministic_environment(cfg.trainer.deterministic)
    places = (in_sweep and cfg.trainer.accelerator != "cpu"
              and placement.places_own_gpu(str(hydra_cfg.launcher.get("_target_"))))
    gpu_index = placement.PLACEMENT.place(Path(hydra_cfg.sweep.dir)) if places else None
    try:
        cleared = preflight(cfg)
    except (ConfigError, wandb_run.WandbUnavailable) as err:
        if not in_sweep:
            print(f"rnnmem: error: {err}", file=sys.stderr)
            sys.exit(2)
        log.error("run %s failed: %s", cfg.name, err)
        write_record(run_dir, refused_record(cfg, str(err)))
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
        record = train_one(cfg, run_dir, n_jobs=n_jobs, gpu_index=gpu_index, place=place,
                           steps_per_batch=cleared.steps_per_batch)
    finally:
        lock.release()
    one_job_per_process = not in_sweep or placement.submitit_launched(
        str(hydra_cfg.launcher.get("_target_")))
    if record["status"] == "preempted" and one_job_per_process:
        log.info("preempted at step %d by %s; rerun the same command to resume from %s",
                 record["train_steps"], preemption.STOP.name, RunDir(run_dir).checkpoint)
        signum = preemption.STOP.received
        preemption.STOP.chain_previous()  # submitit's handler: requeue the job
        sys.exit(128 + signum)
    if record["status"] == "failed" and not in_sweep:
        print(f"rnnmem: error: run {cfg.name} failed: {record['error']}", file=sys.stderr)
        sys.exit(1)
    return objective_of(record)


def train_one(cfg: DictConfig, run_dir: Path, *, steps_per_batch: int | None = None,
              **placed: Any) -> RunRecord:
    """Train, test and record the run of `cfg` in `run_dir` (`rnnmem.training.lifecycle`), with
    the optimiser steps per batch the preflight finds (`check_devices`) unless given; `placed`:
    the lifecycle's `n_jobs`, `gpu_index` and `place`. What `main` does once the run directory
    is cleared, and what tests and benchmarks call to train a composed config."""
    if steps_per_batch is None:
        steps_per_batch = check_devices(cfg)
    return lifecycle.train_one(cfg, run_dir, steps_per_batch=steps_per_batch, **placed)


def cli() -> None:
    """The command line: register the config's schema and resolvers, then Hydra's `main`."""
    register_config()
    main()


if __name__ == "__main__":
    cli()
