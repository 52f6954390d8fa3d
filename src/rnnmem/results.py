"""Read run records into pandas: one run, its gradient norms, or a whole sweep.

`load_run` flattens a run's `record.json` into one mapping (the config axes, the hidden size,
parameter count `n_params`, state size N (`state_size`), recurrent state elements per layer
(`state_elements`) and lr the model trained with, status, metrics,
baseline, solved, the memory measures of the last probe and of the first, timings);
`load_sweep` stacks those for every run directory under a sweep; `load_grad_norms`,
`load_input_sensitivity` and `load_item_memory` turn `probe.npz` (and the record's
intervention view) into long DataFrames.
The same mapping can be read back from W&B, so a team that logged there can rebuild its
tables: `load_wandb_offline` (an offline run directory, via `wandb leet inspect --json`) and
`load_wandb_project` (the W&B public API).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnmem.config import direction_label
from rnnmem.directories import SweepDir
from rnnmem.probe import DIRECTIONS
from rnnmem.record import TRAINED_WITH, CorruptRecord, read_probe_arrays, read_record
from rnnmem.tasks import TASKS

AXES = ("task", "cell", "depth", "bidirectional", "seq_len", "seed", "hidden_size")
# The last probe's headline measures (`rnnmem.probe`, `rnnmem.item_memory`): input-sensitivity
# coverage and its scale, the gradient view's item-memory span and its bound flag, and the
# bottom layer's forward gradient summaries; `<name>_init` are the first probe's (step 0).
HEADLINE_SUMMARIES = (
    "memory_coverage", "sensitivity_scale", "gradient_span", "gradient_span_is_bound",
    "memory_horizon", "log10_grad_ratio", "decay_rate", "grad_ratio_is_bound",
)
AT_INIT = ("memory_coverage", "memory_horizon", "gradient_span")
# The intervention view's item-memory span on the test set (`rnnmem.item_memory`): at the end,
# its bound flag, and at init.
INTERVENTION = ("intervention_span", "intervention_span_is_bound", "intervention_span_init")
NUMBERS = (
    "test_loss", "test_acc", "test_exact", "test_mse", "baseline", "train_steps",
    "train_steps_per_sec", "train_seconds", "fit_seconds", "wall_seconds", "memory_span",
)


def flatten_record(record: dict[str, Any], run_dir: Path | str = "") -> dict[str, Any]:
    """The flat `load_run` mapping of a parsed record."""
    config = record.get("config", {})
    task, model = config.get("task", {}), config.get("model", {})
    row: dict[str, Any] = {
        "run_dir": str(run_dir),
        "name": record.get("name", config.get("name")),
        "status": record.get("status"),
        "task": task.get("name"),
        "seq_len": task.get("seq_len"),
        "cell": model.get("cell"),
        "depth": model.get("depth"),
        "bidirectional": model.get("bidirectional"),
        "merge": model.get("merge"),
        "hidden_size": record.get("hidden_size", model.get("hidden_size")),
        "n_params": record.get("n_params", np.nan),
        "state_size": record.get("state_size", np.nan),
        "state_elements": record.get("state_elements", np.nan),
        "lr": record.get("lr", config.get("optim", {}).get("lr")),
        "seed": config.get("seed"),
        "solved": bool(record.get("solved", False)),
        "error": record.get("error"),
    }
    for key in (*NUMBERS, *INTERVENTION):
        row[key] = record.get(key, np.nan)
    probe = record.get("probe") or {}
    for key in HEADLINE_SUMMARIES:
        values = probe.get(key) or [np.nan]
        row[key] = values[-1]
    for key in AT_INIT:
        values = probe.get(key) or [np.nan]
        row[f"{key}_init"] = values[0] if (probe.get("steps") or [None])[0] == 0 else np.nan
    return row


def load_run(run_dir: Path | str) -> dict[str, Any]:
    """One run's record as a flat mapping (see `flatten_record`)."""
    return flatten_record(read_record(Path(run_dir)), run_dir)


def find_runs(sweep_dir: Path | str) -> list[Path]:
    """Every directory under `sweep_dir` that holds a run record, sorted."""
    return SweepDir(sweep_dir).run_dirs()


def readable_records(run_dirs: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """(run_dir, record) of every readable record; a corrupt one is skipped with a warning
    that names its file (a sweep that resumes retrains it)."""
    found = []
    for run_dir in run_dirs:
        try:
            found.append((run_dir, read_record(run_dir)))
        except FileNotFoundError:
            continue
        except CorruptRecord as err:
            warnings.warn(f"skipping {err}", stacklevel=2)
    return found


def load_sweep(sweep_dir: Path | str, run_dirs: list[Path] | None = None) -> pd.DataFrame:
    """One row per readable record under `sweep_dir` (or of `run_dirs`), sorted by the config
    axes; corrupt records are skipped with a warning naming them."""
    dirs = find_runs(sweep_dir) if run_dirs is None else run_dirs
    return runs_frame([flatten_record(record, run_dir)
                       for run_dir, record in readable_records(dirs)])


def runs_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """`load_run` mappings as a DataFrame sorted by the config axes (then `run_dir`)."""
    frame = pd.DataFrame(rows, columns=list(flatten_record({}).keys()))
    if frame.empty:
        return frame
    return frame.sort_values(list(AXES) + ["run_dir"], kind="stable").reset_index(drop=True)


SUMMARY_COLUMNS = (
    "run", "task", "cell", "depth", "direction", "seq_len", "seed", "metric", "test_metric",
    "test_loss", "baseline", "solved", "n_params", "gradient_span", "gradient_span_is_bound",
    "intervention_span", "intervention_span_is_bound", "status",
)  # the sweep's summary table (`summary.md`, `summary.csv`) and Table 1's table1_runs.csv


def summary_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: config -> held-out metric, baseline, solved, parameter count, item-memory
    spans from both views (with their is-bound flags), status."""
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


def load_input_sensitivity(run_dir: Path | str) -> pd.DataFrame:
    """Long table of the probe's input sensitivity s_t: columns step, t, norm."""
    arrays = read_probe_arrays(Path(run_dir))
    if "x_norm" not in arrays:
        return pd.DataFrame(columns=["step", "t", "norm"])
    norms = arrays["x_norm"]  # (P, T)
    steps, length = norms.shape
    return pd.DataFrame({
        "step": np.repeat(arrays["steps"], length),
        "t": np.tile(np.arange(length), steps),
        "norm": norms.reshape(-1),
    })


def load_item_memory(run_dir: Path | str) -> pd.DataFrame:
    """Long table of a run's item memory per lag (`rnnmem.item_memory`): columns step, view
    ('gradient': every probe, from `probe.npz`; 'intervention': init and end, from the
    record), lag, memory, stderr, count; measured lags only (count > 0)."""
    columns = ["step", "view", "lag", "memory", "stderr", "count"]
    curves: list[tuple[int, str, np.ndarray]] = []
    arrays = read_probe_arrays(Path(run_dir))
    if "item_memory" in arrays:
        curves += [(int(step), "gradient", curve)
                   for step, curve in zip(arrays["steps"], arrays["item_memory"], strict=True)]
    record = read_record(Path(run_dir))
    for entry in (record.get("item_memory") or {}).get("intervention", []):
        curves.append((entry["step"], "intervention", np.array(entry["curve"], dtype=float)))
    frames = []
    for step, view, curve in curves:
        lags = np.flatnonzero(curve[2] > 0)
        frames.append(pd.DataFrame({"step": step, "view": view, "lag": lags,
                                    "memory": curve[0, lags], "stderr": curve[1, lags],
                                    "count": curve[2, lags].astype(np.int64)}))
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def load_grad_norms(run_dir: Path | str) -> pd.DataFrame:
    """Long table of the probe: columns step, layer, direction, t, state ('h' or 'c'), norm."""
    arrays = read_probe_arrays(Path(run_dir))
    columns = ["step", "layer", "direction", "t", "state", "norm"]
    if not arrays:
        return pd.DataFrame(columns=columns)
    frames = []
    for state in ("h", "c"):
        norms = arrays.get(f"{state}_norm")
        if norms is None:
            continue
        steps, depth, directions, length = norms.shape
        index = np.indices(norms.shape).reshape(4, -1)
        frames.append(pd.DataFrame({
            "step": arrays["steps"][index[0]],
            "layer": index[1],
            "direction": np.array(DIRECTIONS)[index[2]],
            "t": index[3],
            "state": state,
            "norm": norms.reshape(-1),
        }))
    return pd.concat(frames, ignore_index=True)[columns]


# --- W&B: the same runs, read back from W&B's own logs -----------------------------------------


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
        "probe": {key: [summary[f"probe/{key}"]] for key in HEADLINE_SUMMARIES
                  if f"probe/{key}" in summary},
        # what the model trained with, beside the config (`rnnmem.run.opening_record`)
        **{key: config[key] for key in TRAINED_WITH if key in config},
    }
    if probes:
        record["probe"] = {
            "steps": [int(item["trainer/global_step"]) for item in probes],
            **{key: [item.get(f"probe/{key}") for item in probes] for key in HEADLINE_SUMMARIES},
        }
    for key in (*NUMBERS, *INTERVENTION):
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
