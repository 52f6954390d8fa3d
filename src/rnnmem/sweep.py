"""Sweep bookkeeping as a Hydra callback: job count, a progress line, the closing summary.

Hydra's launchers (joblib on one machine, submitit on SLURM) run the jobs; this callback only
watches the sweep directory. `on_multirun_start` validates the values every job shares (a bad
one stops the sweep with one line before any job starts) and counts the grid, `on_job_end`
(in the job's process) prints one line `done/total, failures, ETA` from the records on disk, and
`on_multirun_end` prints and writes the summary table (`summary.md`, `summary.csv`) and exits
non-zero, naming them, when any job failed or left no record.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from rnnmem.config import ConfigError, direction_label, validate
from rnnmem.record import RECORD_FILE, read_record
from rnnmem.results import find_runs, load_sweep
from rnnmem.tables import markdown_table
from rnnmem.tasks import TASKS

SWEEP_FILE = "sweep.json"
SUMMARY_COLUMNS = (
    "task", "cell", "depth", "direction", "seq_len", "seed", "metric", "test_metric",
    "test_loss", "baseline", "solved", "memory_span", "memory_horizon", "status",
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


def count_jobs(config: DictConfig) -> int:
    """Jobs in this multirun: the product of the sweeper's params and command-line sweeps."""
    return len(grid_jobs(config))


def summary_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: config -> held-out metric, baseline, solved, memory horizon, status."""
    if runs.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    frame = runs.copy()
    frame["direction"] = [None if pd.isna(b) else direction_label(bool(b))
                          for b in frame["bidirectional"]]
    frame["metric"] = [f"test_{TASKS[task].metric}" if task in TASKS else "test_loss"
                       for task in frame["task"]]
    frame["test_metric"] = [run.get(metric, float("nan")) for metric, run in
                            zip(frame["metric"], frame.to_dict("records"), strict=True)]
    return frame[list(SUMMARY_COLUMNS)]


def _statuses(sweep_dir: Path) -> list[tuple[str, float]]:
    """(status, time written) of every record in the sweep so far."""
    return [(read_record(run_dir)["status"], (run_dir / RECORD_FILE).stat().st_mtime)
            for run_dir in find_runs(sweep_dir)]


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s"


class SweepMonitor(Callback):
    """Progress line per finished job and the summary at the end of a multirun."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:  # a bad value shared by every job stops the sweep before any job starts
            validate(config)
        except ConfigError as err:
            print(f"rnnmem: error: {err}", file=sys.stderr, flush=True)
            sys.exit(2)
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        total = count_jobs(config)
        state = {"total": total, "started": time.time()}
        (sweep_dir / SWEEP_FILE).write_text(json.dumps(state))
        print(f"[sweep] {total} jobs -> {sweep_dir}", flush=True)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            state = json.loads((sweep_dir / SWEEP_FILE).read_text())
        except (OSError, ValueError):
            return
        statuses = _statuses(sweep_dir)
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
        total = count_jobs(config)
        runs = load_sweep(sweep_dir)
        summary = summary_frame(runs)
        table = markdown_table(summary)
        (sweep_dir / "summary.md").write_text(table)
        summary.to_csv(sweep_dir / "summary.csv", index=False)
        print(table, flush=True)
        failed = runs[runs["status"] == "failed"]
        missing = total - len(summary)
        line = (f"[sweep] {len(summary)}/{total} recorded: "
                f"{(summary['status'] == 'finished').sum()} finished, "
                f"{(summary['status'] == 'diverged').sum()} diverged, {len(failed)} failed")
        print(line + (f", {missing} missing" if missing > 0 else ""), flush=True)
        if len(failed) or missing > 0:
            for run in failed.itertuples():
                print(f"[sweep] failed: {run.run_dir}: {run.error}", file=sys.stderr, flush=True)
            sys.exit(1)
