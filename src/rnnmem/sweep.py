"""Sweep bookkeeping as a Hydra callback: job count, a progress line, the closing summary.

Hydra's launchers (joblib on one machine, submitit on SLURM) run the jobs; this callback only
watches the sweep directory. `on_multirun_start` validates the values every job shares (a bad
one stops the sweep with one line before any job starts), checks W&B once for all jobs, composes
every job's config to know its run directory (`<task>/<name>-<hash>`, `rnnmem.identity`) and
says, one line per kind of change, which jobs differ from records already in the directory
(they are new runs; the old records stay). `on_job_end` (in the job's process) prints one line
`done/total, failures, ETA` from this grid's records on disk, and `on_multirun_end` prints and
writes the summary table of this grid (`summary.md`, `summary.csv`) and exits non-zero, naming
them, when any job failed, was preempted or left no record.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from rnnmem import wandb_logging
from rnnmem.config import ConfigError, direction_label, validate
from rnnmem.identity import config_differences, identity_config
from rnnmem.module import check_devices
from rnnmem.record import RECORD_FILE
from rnnmem.results import find_runs, load_sweep, readable_records
from rnnmem.runlock import LOCK_FILE, RunLock
from rnnmem.tables import markdown_table
from rnnmem.tasks import TASKS

SWEEP_FILE = "sweep.json"
SUMMARY_COLUMNS = (
    "run", "task", "cell", "depth", "direction", "seq_len", "seed", "metric", "test_metric",
    "test_loss", "baseline", "solved", "memory_span", "memory_coverage", "memory_horizon",
    "status",
)


def sweep_arguments(config: DictConfig) -> list[str]:
    """The sweeper's params, then the command line's overrides, as Hydra combines them."""
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    overrides = OmegaConf.select(config, "hydra.overrides.task") or []
    return [f"{key}={value}" for key, value in params.items()] + list(overrides)


def grid_jobs(config: DictConfig) -> list[list[str]]:
    """The override list of every job of the multirun, as Hydra's basic sweeper expands it."""
    overrides = OverridesParser.create().parse_overrides(sweep_arguments(config))
    return BasicSweeper.split_arguments(overrides, None)[0]


def summary_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: config -> held-out metric, baseline, solved, memory horizon, status."""
    if runs.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    frame = runs.copy()
    frame["run"] = frame["run_dir"].map(lambda path: Path(path).name)
    frame["direction"] = [None if pd.isna(b) else direction_label(bool(b))
                          for b in frame["bidirectional"]]
    frame["metric"] = [f"test_{TASKS[task].metric}" if task in TASKS else "test_loss"
                       for task in frame["task"]]
    frame["test_metric"] = [run.get(metric, float("nan")) for metric, run in
                            zip(frame["metric"], frame.to_dict("records"), strict=True)]
    return frame[list(SUMMARY_COLUMNS)]


def planned_runs(config: DictConfig) -> list[tuple[str, dict[str, Any]]]:
    """(run directory relative to the sweep, identity config) of every job of the multirun,
    each composed as the launcher composes it."""
    loader = GlobalHydra.instance().config_loader()
    planned = []
    for overrides in grid_jobs(config):
        job = loader.load_sweep_config(config, list(overrides))
        planned.append((str(OmegaConf.select(job, "hydra.sweep.subdir")), identity_config(job)))
    return planned


def config_changes(sweep_dir: Path, planned: list[tuple[str, dict[str, Any]]]) -> Counter:
    """For the planned jobs without a record of their own, the keys in which they differ from
    the closest existing record of the same readable name: {tuple of keys: number of jobs}."""
    existing: dict[str, list[dict[str, Any]]] = {}
    for run_dir, record in readable_records(find_runs(sweep_dir)):
        if "config" in record and "config_hash" in record:
            key = f"{run_dir.parent.name}/{record.get('name')}"
            existing.setdefault(key, []).append(identity_config(OmegaConf.create(record["config"])))
    changes: Counter = Counter()
    for rel_dir, identity in planned:
        if (sweep_dir / rel_dir / RECORD_FILE).exists():
            continue
        task_dir, dir_name = Path(rel_dir).parent.name, Path(rel_dir).name
        name = dir_name.rsplit("-", 1)[0]
        others = existing.get(f"{task_dir}/{name}", [])
        if others:
            diffs = min((config_differences(old, identity) for old in others), key=len)
            changes[tuple(diffs)] += 1
    return changes


def locked_elsewhere(run_dir: Path) -> bool:
    """Whether another process holds `run_dir`'s lock (is training it right now)."""
    if not (run_dir / LOCK_FILE).exists():
        return False
    lock = RunLock(run_dir)
    if lock.acquire():
        lock.release()
        return False
    return True


def _statuses(sweep_dir: Path, run_dirs: list[str]) -> list[tuple[str, float]]:
    """(status, time written) of the grid's records so far."""
    paths = [sweep_dir / rel for rel in run_dirs]
    return [(record["status"], (run_dir / RECORD_FILE).stat().st_mtime)
            for run_dir, record in readable_records(paths)]


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s"


class SweepMonitor(Callback):
    """Progress line per finished job and the summary at the end of a multirun."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:  # a bad value shared by every job stops the sweep before any job starts
            validate(config)
            check_devices(config)
        except ConfigError as err:
            print(f"rnnmem: error: {err}", file=sys.stderr, flush=True)
            sys.exit(2)
        if config.logger.name == "wandb":  # once for every job (they inherit the outcome)
            try:
                note = wandb_logging.check_online(config.logger.if_unreachable)
            except wandb_logging.WandbUnavailable as err:
                print(f"rnnmem: error: {err}", file=sys.stderr, flush=True)
                sys.exit(2)
            if note:
                print(f"[sweep] {note}", flush=True)
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        planned = planned_runs(config)
        runs = [rel_dir for rel_dir, _ in planned]
        state = {"total": len(planned), "started": time.time(), "runs": runs}
        (sweep_dir / SWEEP_FILE).write_text(json.dumps(state))
        print(f"[sweep] {len(planned)} jobs -> {sweep_dir}", flush=True)
        for keys, jobs in sorted(config_changes(sweep_dir, planned).items()):
            print(f"[sweep] {jobs} jobs differ from existing records in {', '.join(keys)}: "
                  "new runs", flush=True)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            state = json.loads((sweep_dir / SWEEP_FILE).read_text())
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
        run_dirs = json.loads((sweep_dir / SWEEP_FILE).read_text())["runs"]
        total = len(run_dirs)
        runs = load_sweep(sweep_dir, [sweep_dir / rel for rel in run_dirs])
        summary = summary_frame(runs)
        elsewhere = [rel for rel in run_dirs if not (sweep_dir / rel / RECORD_FILE).exists()
                     and locked_elsewhere(sweep_dir / rel)]
        table = markdown_table(summary)
        (sweep_dir / "summary.md").write_text(table)
        summary.to_csv(sweep_dir / "summary.csv", index=False)
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
        if os.environ.get(wandb_logging.FALLBACK_ENV):
            print(f"[sweep] {os.environ[wandb_logging.FALLBACK_ENV]}", flush=True)
        if len(failed) or preempted or missing > 0:
            for run in failed.itertuples():
                print(f"[sweep] failed: {run.run_dir}: {run.error}", file=sys.stderr, flush=True)
            sys.exit(1)
