"""Hydra entry point: `python -m rnnmem.train [overrides]` trains one grid point.

Compose and validate the config (`rnnmem.preflight`), then train, test and record the run in its
run directory, which the config's hash names (`rnnmem.rundir.identity`; the lifecycle is
`rnnmem.training.lifecycle`'s). The raw config stops here: below, the run receives its config
typed (`rnnmem.config.typed`) and its identity (`RunIdentity`). A run that fails or diverges is
recorded as such; inside a sweep it never raises, so the other jobs go on. A run stopped by a
signal checkpoints, records `preempted` and exits non-zero (`rnnmem.training.preemption`); the
same command resumes it. A run directory that already holds a finished or diverged record of the
same config and code is skipped, and one that another process is training (`rnnmem.rundir.lock`)
too, which is what makes sweeps resumable and safe to start twice; a record or checkpoint of
another config or other code is never mixed in (`rnnmem.rundir.verdict`).

Failure policy (`refuse`, the one place that applies it): a run started alone prints its one
line (`rnnmem: error: ...`) and exits with its code; inside a sweep the line goes to the job's
log, the record it leaves (if any) is written, and the sweep goes on.

Exit codes: 0 done (or skipped), 1 the run failed, 2 a bad value (a group choice without its
file too: `+experiment=nosuch`, one line before Hydra composes anything) or a run directory of
another config or code, 128 + signal preempted, 130 interrupted by a second Ctrl-C (the run
records `failed`).
"""

from __future__ import annotations

import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from rnnmem.config import ConfigError, register_config, typed
from rnnmem.grid import unknown_choice
from rnnmem.preflight import check_devices, preflight
from rnnmem.reporting.records import objective_of
from rnnmem.rundir.atomic import remove_temporaries
from rnnmem.rundir.identity import RunIdentity, place_id
from rnnmem.rundir.lock import RunLock
from rnnmem.rundir.paths import RunDir
from rnnmem.rundir.record import RunRecord, read_record, write_record
from rnnmem.rundir.verdict import CodeChanged, RunDirConflict, verdict
from rnnmem.sweeps import placement
from rnnmem.tracking import wandb_run
from rnnmem.training import lifecycle, precision, preemption
from rnnmem.training.schedule import explicit_keys, long_interval_notes

log = logging.getLogger("rnnmem")
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"  # hydra.main's config_path below


@dataclass
class Refusal(Exception):
    """Why the entry point does not train a run, or why its run failed: one line, the exit
    code of a run started alone, the record a sweep keeps of it (None: nothing to add), and
    whether the line was logged already (a failed run logs its own)."""

    line: str
    exit_code: int
    record: RunRecord | None = None
    logged: bool = False

    def __str__(self) -> str:
        return self.line


def refuse(refusal: Refusal, run_dir: Path, in_sweep: bool) -> None:
    """The entry point's failure policy, in one place: alone, the line on stderr and the exit
    code; in a sweep, the line in the job's log and the record where there is one, and return."""
    if not in_sweep:
        print(f"rnnmem: error: {refusal}", file=sys.stderr)
        sys.exit(refusal.exit_code)
    if not refusal.logged:
        log.error("%s", refusal)
    if refusal.record is not None:
        write_record(run_dir, refusal.record)


def refused_record(cfg: DictConfig, error: str) -> RunRecord:
    """The record of a run whose values the preflight refused: nothing trained."""
    identity = RunIdentity.of(cfg)
    return {"status": "failed", "solved": False, "error": error, "name": cfg.name,
            "config_hash": identity.hash, "config": identity.config}


@hydra.main(version_base="1.3", config_path="../../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Train one grid point; returns the search objective (`rnnmem.reporting.records.
    objective_of`: the last validation value of the task's metric, None unless the run
    finished)."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        return train_or_skip(cfg, run_dir, in_sweep)
    except Refusal as refusal:
        refuse(refusal, run_dir, in_sweep)
        return None
    except KeyboardInterrupt:  # Ctrl-C where no checkpoint could be taken: recorded `failed`
        print(f"rnnmem: error: run {cfg.name} interrupted (Ctrl-C) where it could not "
              "checkpoint; rerun the same command to train it", file=sys.stderr, flush=True)
        sys.exit(128 + signal.SIGINT)


def train_or_skip(cfg: DictConfig, run_dir: Path, in_sweep: bool) -> float | None:
    """Place the job, clear its config, take the run directory's lock, decide what its contents
    mean (`verdict`), then train it or skip it; a refusal or a failed run raises `Refusal`."""
    hydra_cfg = HydraConfig.get()
    launcher = str(hydra_cfg.launcher.get("_target_"))
    # first, before anything calls CUDA: cuBLAS's workspace setting, and in a local sweep this
    # process's GPU, the least-loaded one (rnnmem.sweeps.placement); submitit's jobs have SLURM's
    precision.deterministic_environment(cfg.trainer.deterministic)
    places = in_sweep and cfg.trainer.accelerator != "cpu" and placement.places_own_gpu(launcher)
    gpu_index = placement.PLACEMENT.place(Path(hydra_cfg.sweep.dir)) if places else None
    try:
        cleared = preflight(cfg)
    except (ConfigError, wandb_run.WandbUnavailable) as err:
        raise Refusal(f"run {cfg.name} refused: {err}" if in_sweep else str(err), 2,
                      record=refused_record(cfg, str(err))) from None
    # an interval longer than the run, set on the command line: it fires at the end only
    for note in long_interval_notes(cfg, explicit_keys(hydra_cfg.overrides.task)):
        if in_sweep:
            log.info("run %s: %s", cfg.name, note)
        else:
            print(f"rnnmem: note: {note}", file=sys.stderr)
    lock = RunLock(run_dir)
    if not lock.acquire():
        log.info("skipping %s: another process is training %s", cfg.name, run_dir)
        return None
    try:
        for leftover in remove_temporaries(run_dir):  # a write that a kill interrupted
            log.info("removed %s, left by an interrupted write", leftover)
        identity = RunIdentity.of(cfg)
        try:
            held = verdict(run_dir, identity.hash, identity.identity, cfg.on_code_change)
        except (RunDirConflict, CodeChanged) as err:
            raise Refusal(f"not running {cfg.name}: {err}" if in_sweep else str(err),
                          2) from None
        if held.skip:
            log.info("skipping %s: %s", cfg.name, held.reason)
            return objective_of(read_record(run_dir))
        if preemption.STOP.received is not None:
            log.info("skipping %s: this process received %s", cfg.name, preemption.STOP.name)
            return None
        record = lifecycle.train_one(
            typed(cfg), run_dir, identity=identity, steps_per_batch=cleared.steps_per_batch,
            n_jobs=hydra_cfg.launcher.get("n_jobs") if in_sweep else None, gpu_index=gpu_index,
            place=place_id(Path(hydra_cfg.sweep.dir)) if in_sweep else None)
    finally:
        lock.release()
    if record["status"] == "preempted" and (not in_sweep
                                            or placement.submitit_launched(launcher)):
        log.info("preempted at step %d by %s; rerun the same command to resume from %s",
                 record["train_steps"], preemption.STOP.name, RunDir(run_dir).checkpoint)
        signum = preemption.STOP.received
        preemption.STOP.chain_previous()  # submitit's handler: requeue the job
        sys.exit(128 + signum)
    if record["status"] == "failed":
        raise Refusal(f"run {cfg.name} failed: {record['error']}", 1, logged=True)
    return objective_of(record)


def train_one(cfg: DictConfig, run_dir: Path, *, steps_per_batch: int | None = None,
              **placed: Any) -> RunRecord:
    """Train, test and record the run of the composed config `cfg` in `run_dir`
    (`rnnmem.training.lifecycle.train_one`, given the config typed and its identity), with the
    optimiser steps per batch the preflight finds (`check_devices`) unless given; `placed`: the
    lifecycle's `n_jobs`, `gpu_index` and `place`. What tests and benchmarks call to train a
    composed config without the entry point's lock and verdict."""
    if steps_per_batch is None:
        steps_per_batch = check_devices(cfg)
    return lifecycle.train_one(typed(cfg), run_dir, identity=RunIdentity.of(cfg),
                               steps_per_batch=steps_per_batch, **placed)


def cli() -> None:
    """The command line: a group choice that has no config file is refused in one line (Hydra's
    own message is a dozen); then the config's schema and resolvers are registered and Hydra's
    `main` runs."""
    problem = unknown_choice(sys.argv[1:], CONF_DIR)
    if problem is not None:
        print(f"rnnmem: error: {problem}", file=sys.stderr)
        sys.exit(2)
    register_config()
    main()


if __name__ == "__main__":
    cli()
