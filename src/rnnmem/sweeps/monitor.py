"""Sweep bookkeeping as a Hydra callback: job count, a progress line, the closing summary.

Hydra's launchers (joblib on one machine, submitit on SLURM) run the jobs; this callback only
watches the sweep directory. `on_multirun_start` validates the values every job shares (a bad
one stops the sweep with one line before any job starts), checks W&B once for all jobs, composes
every job's config to know its run directory (`<task>/<name>-<hash>`, `rnnmem.rundir.identity`) and
says, one line per kind of change, which jobs differ from records already in the directory
(they are new runs; the old records stay). `on_job_end` (in the job's process) prints one line
`done/total, failures, ETA` from this grid's records on disk, and `on_multirun_end` prints and
writes the summary table of this grid (`summary.md`, `summary.csv`) and exits non-zero, naming
them, when any job failed, was preempted or left no record.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from rnnmem.config import ConfigError
from rnnmem.grid import grid_jobs, name_of_run_dir
from rnnmem.preflight import preflight
from rnnmem.reporting.records import find_runs, load_sweep, readable_records, summary_frame
from rnnmem.reporting.tables import markdown_table
from rnnmem.rundir.checkpoint import checkpoint_stamp
from rnnmem.rundir.code import code_identity, describe, other_code
from rnnmem.rundir.identity import config_differences, identity_config, place_id
from rnnmem.rundir.lock import lock_held
from rnnmem.rundir.paths import RunDir, SweepDir
from rnnmem.rundir.record import COMPLETE, CorruptRecord, read_record, write_record
from rnnmem.sweeps import launcher
from rnnmem.tracking import wandb_run


@dataclass(frozen=True)
class Planned:
    """One job of the multirun: its run directory relative to the sweep and identity config,
    or, for a job whose values do not compose, `invalid/<its swept values>`, those values and
    the one-line error."""

    rel_dir: str
    identity: dict[str, Any] | None
    overrides: tuple[str, ...]
    error: str | None = None


def one_line(err: Exception) -> str:
    """A composition error in one line: its first line, and the options Hydra lists."""
    text = str(err).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    if err.__cause__ is not None:  # Hydra's "Error merging override": the value's own error
        line += ": " + str(err.__cause__).strip().splitlines()[0]
    options = re.search(r"Available options in '([^']+)':\n((?:\t.*\n?)+)", text)
    if options:
        names = ", ".join(name.strip() for name in options.group(2).split("\n") if name.strip())
        line += f"; options of {options.group(1)}: {names}"
    return line


def planned_runs(config: DictConfig) -> list[Planned]:
    """Every job of the multirun, each composed as the launcher composes it."""
    loader = GlobalHydra.instance().config_loader()
    jobs = grid_jobs(config)
    planned = []
    for overrides in jobs:
        swept = [o for o in overrides if not all(o in other for other in jobs)] or overrides
        try:
            job = loader.load_sweep_config(config, list(overrides))
            planned.append(Planned(str(OmegaConf.select(job, "hydra.sweep.subdir")),
                                   identity_config(job), tuple(overrides)))
        except Exception as err:  # this job's values: it fails alone (rnnmem.sweeps.launcher)
            slug = ",".join(swept).replace("/", "_") or "job"
            planned.append(Planned(f"invalid/{slug}", None, tuple(swept), one_line(err)))
    return planned


def code_changes(sweep_dir: Path, planned: list[Planned]) -> Counter:
    """For the planned jobs whose directory holds a finished or diverged record, or else a
    checkpoint, made by other code (`rnnmem.rundir.code`): {that code, described: jobs}."""
    changes: Counter = Counter()
    for job in planned:
        if job.identity is None:
            continue
        run_dir = sweep_dir / job.rel_dir
        try:
            record = read_record(run_dir)
        except (FileNotFoundError, CorruptRecord):
            record = None
        held = (record if record is not None and record["status"] in COMPLETE
                else checkpoint_stamp(RunDir(run_dir).checkpoint))
        if held is not None and other_code(held):
            changes[describe(held)] += 1
    return changes


def config_changes(sweep_dir: Path, planned: list[Planned]) -> Counter:
    """For the planned jobs without a record of their own, the keys in which they differ from
    the closest existing record of the same readable name: {tuple of keys: number of jobs}."""
    existing: dict[str, list[dict[str, Any]]] = {}
    for run_dir, record in readable_records(find_runs(sweep_dir)):
        if "config" in record and "config_hash" in record:
            key = f"{run_dir.parent.name}/{record.get('name')}"
            existing.setdefault(key, []).append(identity_config(OmegaConf.create(record["config"])))
    changes: Counter = Counter()
    for job in planned:
        rel_dir, identity = job.rel_dir, job.identity
        if identity is None or SweepDir(sweep_dir).run(rel_dir).record.exists():
            continue
        task_dir, dir_name = Path(rel_dir).parent.name, Path(rel_dir).name
        name = name_of_run_dir(dir_name)
        others = existing.get(f"{task_dir}/{name}", [])
        if others:
            diffs = min((config_differences(old, identity) for old in others), key=len)
            changes[tuple(diffs)] += 1
    return changes


def start_sweep_dir(sweep_dir: Path, planned: list[Planned]) -> None:
    """Create the sweep directory with its `place_id` (the W&B ids' salt), `sweep.json`, and a
    `failed` record for every job whose values do not compose; OSError where it cannot."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    place_id(sweep_dir)
    for job in planned:
        if job.error is not None:
            write_record(sweep_dir / job.rel_dir, {
                "status": "failed", "solved": False, "error": job.error,
                "name": " ".join(job.overrides), "overrides": list(job.overrides)})
    state = {"total": len(planned), "started": time.time(),
             "runs": [job.rel_dir for job in planned]}
    SweepDir(sweep_dir).state.write_text(json.dumps(state))


def storage_error(err: OSError) -> str:
    """'[Errno 30] Read-only file system: <path>': the error and the path it names."""
    where = f": {err.filename}" if err.filename else ""
    return f"[Errno {err.errno}] {err.strerror or err}{where}"


def _statuses(sweep_dir: Path, run_dirs: list[str]) -> list[tuple[str, float]]:
    """(status, time written) of the grid's records so far."""
    paths = [sweep_dir / rel for rel in run_dirs]
    return [(record["status"], RunDir(run_dir).record.stat().st_mtime)
            for run_dir, record in readable_records(paths)]


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s"


class SweepMonitor(Callback):
    """Progress line per finished job and the summary at the end of a multirun."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # a bad value shared by every job stops the sweep before any job starts; W&B is
        # checked once for every job (they inherit the outcome)
        try:
            cleared = preflight(config)
        except (ConfigError, wandb_run.WandbUnavailable) as err:
            print(f"rnnmem: error: {err}", file=sys.stderr, flush=True)
            sys.exit(2)
        if cleared.wandb_note:
            print(f"[sweep] {cleared.wandb_note}", flush=True)
        sweep_dir = Path(config.hydra.sweep.dir)
        planned = planned_runs(config)
        changed = code_changes(sweep_dir, planned)
        for code, jobs in sorted(changed.items()):
            print(f"[sweep] {jobs} jobs hold records or checkpoints made by other code "
                  f"({code}; now {describe(code_identity())})", flush=True)
        if changed and config.on_code_change == "error":
            print("rnnmem: error: records or checkpoints of other code in the sweep (above); set "
                  "on_code_change=rerun to train them again or on_code_change=keep to keep them",
                  file=sys.stderr, flush=True)
            sys.exit(2)
        try:
            start_sweep_dir(sweep_dir, planned)
        except OSError as err:
            print(f"rnnmem: error: cannot write the sweep directory {sweep_dir}: "
                  f"{storage_error(err)}", file=sys.stderr, flush=True)
            sys.exit(1)
        print(f"[sweep] {len(planned)} jobs -> {sweep_dir}", flush=True)
        for job in planned:
            if job.error is not None:
                print(f"[sweep] job {' '.join(job.overrides)} fails: {job.error}", flush=True)
        for keys, jobs in sorted(config_changes(sweep_dir, planned).items()):
            print(f"[sweep] {jobs} jobs differ from existing records in {', '.join(keys)}: "
                  "new runs", flush=True)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            state = json.loads(SweepDir(sweep_dir).state.read_text())
        except (OSError, ValueError):
            return
        statuses = _statuses(sweep_dir, state["runs"])
        done = len(statuses)
        failed = sum(status == "failed" for status, _ in statuses)
        diverged = sum(status == "diverged" for status, _ in statuses)
        elapsed = time.time() - state["started"]
        this_session = sum(mtime >= state["started"] for _, mtime in statuses)
        remaining = max(state["total"] - done, 0)
        eta = elapsed / this_session * remaining if this_session else float("nan")
        eta_text = _duration(eta) if eta == eta else "?"
        print(
            f"[sweep] {done}/{state['total']} done, {failed} failed, {diverged} diverged, "
            f"elapsed {_duration(elapsed)}, ETA {eta_text}",
            flush=True,
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep = SweepDir(sweep_dir)
        run_dirs = json.loads(sweep.state.read_text())["runs"]
        total = len(run_dirs)
        runs = load_sweep(sweep_dir, [sweep_dir / rel for rel in run_dirs])
        summary = summary_frame(runs)
        elsewhere = [rel for rel in run_dirs if not sweep.run(rel).record.exists()
                     and lock_held(sweep_dir / rel)]
        table = markdown_table(summary)
        sweep.summary_md.write_text(table)
        summary.to_csv(sweep.summary_csv, index=False)
        print(table, flush=True)
        failed = runs[runs["status"] == "failed"]
        preempted = (summary["status"] == "preempted").sum()
        missing = total - len(summary) - len(elsewhere)
        line = (f"[sweep] {len(summary)}/{total} recorded: "
                f"{(summary['status'] == 'finished').sum()} finished, "
                f"{(summary['status'] == 'diverged').sum()} diverged, {len(failed)} failed")
        line += f", {preempted} preempted (rerun to resume)" if preempted else ""
        print(line + (f", {missing} missing" if missing > 0 else ""), flush=True)
        for rel in elsewhere:
            print(f"[sweep] {rel}: another process is training it", flush=True)
        others = len(find_runs(sweep_dir)) - len(summary)
        if others > 0:
            print(f"[sweep] {others} records of other configs kept in {sweep_dir}", flush=True)
        if os.environ.get(wandb_run.FALLBACK_ENV):
            print(f"[sweep] {os.environ[wandb_run.FALLBACK_ENV]}", flush=True)
        for run in failed.itertuples():
            print(f"[sweep] failed: {run.run_dir}: {run.error}", file=sys.stderr, flush=True)
        if launcher.STOP.received is not None:
            print(f"[sweep] stopped by {signal.Signals(launcher.STOP.received).name}; rerun the "
                  "same command to resume", flush=True)
            sys.exit(128 + launcher.STOP.received)
        if len(failed) or preempted or missing > 0:
            sys.exit(1)
