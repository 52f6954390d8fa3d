"""The runs read back from W&B's own logs, as `rnnmem.reporting.records` reads them from disk:
a team that logged to W&B can rebuild its tables from there.

    load_wandb_offline(dir)      an offline run directory, through `wandb leet inspect --json`
    load_wandb_project(e, p)     a project's runs (optionally one group: one sweep), through the
                                 W&B public API (needs the network and a login)

Each gives the flat `load_run` mapping (`rnnmem.reporting.records.flatten_record`) of what W&B
holds: the config, the summary the run wrote at its end, the probe's headline scalars and the
learning curves of the history.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from rnnmem.reporting.records import (
    HEADLINE_SUMMARIES,
    ITEM_COLUMNS,
    ITEM_FIELDS,
    NUMBERS,
    flatten_record,
    runs_frame,
)
from rnnmem.rundir.record import TRAINED_WITH

# the probe's scalars W&B holds per probe (`probe/<name>`), the item view's among them
PROBE_SCALARS = (*HEADLINE_SUMMARIES, *(f"item_{field}" for field in ITEM_FIELDS))


def _wandb_record(
    config: dict[str, Any], summary: dict[str, Any], name: str | None, exit_code: int | None,
    curves: dict[str, list[dict[str, float]]] | None = None,
    probes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A record shaped like `record.json` from a W&B run's config and final summary (and, where
    the history is at hand, every probe's `probe/*` scalars in step order).

    The status is the one the run wrote to its summary at the end; without it (the process
    died first) 'failed' if W&B saw a non-zero exit, else None (unknown)."""
    status = summary.get("status")
    if status is None and exit_code not in (None, 0):
        status = "failed"
    record: dict[str, Any] = {
        "status": status,
        "name": summary.get("name", name),
        "config": {key: value for key, value in config.items() if not key.startswith("_")},
        "solved": summary.get("solved", False),
        "error": summary.get("error"),
        "probe": {key: [summary[f"probe/{key}"]] for key in PROBE_SCALARS
                  if f"probe/{key}" in summary},
        # what the model trained with, beside the config (`rnnmem.training.lifecycle`)
        **{key: config[key] for key in TRAINED_WITH if key in config},
    }
    if probes:
        record["probe"] = {
            "steps": [int(item["trainer/global_step"]) for item in probes],
            **{key: [item.get(f"probe/{key}") for item in probes] for key in PROBE_SCALARS},
        }
    if "probe_view" in summary:  # which view the probe's item_* scalars are
        record["probe"]["item_view"] = summary["probe_view"]
    if "item_view" in summary:
        record["item_view"] = summary["item_view"]
    for key in (*NUMBERS, *ITEM_COLUMNS):
        lightning_key = f"test/{key[5:]}" if key.startswith("test_") else key
        if key in summary or lightning_key in summary:
            record[key] = summary.get(key, summary.get(lightning_key))
    if curves is not None:
        record["curves"] = curves
    return record


def _wandb_cli() -> list[str]:
    """The `wandb` command of this environment (next to the interpreter, else `-m wandb`)."""
    beside = Path(sys.executable).with_name("wandb")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "wandb"]


def read_wandb_offline(wandb_run_dir: Path | str) -> dict[str, Any]:
    """An offline W&B run (`<run_dir>/wandb/offline-run-*`, or its `.wandb` file) as a record
    shaped like `record.json`: config, status, metrics, baseline, solved, every probe's headline
    summaries and the learning curves (`train/loss`, `val/*` of the history).

    Reads W&B's transaction log through `wandb leet inspect --json` (one JSON record per line:
    'run' holds the config, 'summary' updates the summary, 'history' one logged step, 'exit'
    the exit code)."""
    command = [*_wandb_cli(), "leet", "inspect", "--json", str(wandb_run_dir)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    curves: dict[str, list[dict[str, float]]] = {"train": [], "val": []}
    probes: list[dict[str, Any]] = []
    name: str | None = None
    exit_code: int | None = None
    for line in result.stdout.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        kind = entry.get("type")
        if kind == "run":
            config.update(entry["run"].get("config", {}).get("update", {}))
            name = entry["run"].get("display_name", name)
        elif kind == "summary":
            summary.update(entry["summary"].get("update", {}))
        elif kind == "history":
            item = entry["history"].get("item", {})
            _add_curve_points(curves, item)
            if "probe/memory_coverage" in item:
                probes.append(item)
        elif kind == "exit":
            exit_code = entry["exit"].get("exit_code", 0)
    return _wandb_record(config, summary, name, exit_code, curves, probes)


def _add_curve_points(curves: dict[str, list[dict[str, float]]], item: dict[str, Any]) -> None:
    """The learning-curve points of one history step, keyed as in `record.json`'s curves.

    Lightning logs a batch's metrics under the batch's 0-based index; the record counts the
    updates done by then, one more."""
    if item.get("trainer/global_step") is None:
        return
    step = int(item["trainer/global_step"]) + 1
    if "train/loss" in item:
        curves["train"].append({"step": step, "train_loss": float(item["train/loss"])})
    val = {f"val_{key[4:]}": float(value) for key, value in item.items()
           if key.startswith("val/") and isinstance(value, (int, float))}
    if val:
        curves["val"].append({"step": step, **val})


def load_wandb_offline(wandb_run_dir: Path | str) -> dict[str, Any]:
    """An offline W&B run as the flat `load_run` mapping (as far as W&B has it)."""
    return flatten_record(read_wandb_offline(wandb_run_dir), wandb_run_dir)


def load_wandb_project(entity: str, project: str, group: str | None = None) -> pd.DataFrame:
    """The runs of a W&B project (optionally one group, i.e. one sweep) through the public API,
    one `load_run`-shaped row each, sorted like `load_sweep`; `run_dir` is 'entity/project/id'.

    Needs network access and a W&B login."""
    import wandb

    filters = {"group": group} if group else None
    rows = []
    for run in wandb.Api().runs(f"{entity}/{project}", filters=filters):
        exit_code = 1 if run.state in ("failed", "crashed") else None
        record = _wandb_record(dict(run.config), dict(run.summary_metrics), run.name, exit_code)
        rows.append(flatten_record(record, f"{entity}/{project}/{run.id}"))
    return runs_frame(rows)
