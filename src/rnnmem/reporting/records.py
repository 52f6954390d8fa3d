"""Read run records into pandas: one run, its gradient norms, or a whole sweep.

`load_run` flattens a run's `record.json` into one mapping (the config axes, the hidden size,
parameter count `n_params` and lr the model trained with, status, metrics,
baseline, solved, the memory measures of the last probe and of the first, timings);
`load_sweep` stacks those for every run directory under a sweep; `load_grad_norms`,
`load_input_sensitivity` and `load_item_memory` turn `probe.npz` (and the record's
intervention view) into long DataFrames. The same mapping can be read back from W&B
(`rnnmem.tracking.readback`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnmem.config import direction_label
from rnnmem.measures.probe import DIRECTIONS
from rnnmem.rundir.paths import SweepDir
from rnnmem.rundir.record import CorruptRecord, read_probe_arrays, read_record
from rnnmem.tasks import TASKS

AXES = ("task", "cell", "depth", "bidirectional", "seq_len", "seed", "hidden_size")
# The last probe's headline measures (`rnnmem.measures.probe`, `rnnmem.measures.item_memory`):
# input-sensitivity coverage and its scale, the gradient view's item-memory span and its bound
# flag, and the bottom layer's forward gradient summaries; `<name>_init` are the first probe's
# (step 0).
HEADLINE_SUMMARIES = (
    "memory_coverage", "sensitivity_scale", "gradient_span", "gradient_span_is_bound",
    "memory_horizon", "log10_grad_ratio", "decay_rate", "grad_ratio_is_bound",
)
AT_INIT = ("memory_coverage", "memory_horizon", "gradient_span")
# The intervention view's item-memory span on the test set (`rnnmem.measures.item_memory`): at
# the end, its bound flag, and at init.
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
    """Long table of a run's item memory per lag (`rnnmem.measures.item_memory`): columns step, view
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


def objective_of(record: dict[str, Any]) -> float | None:
    """The search's objective of a run record: the last validation value of its task's metric;
    None unless the run finished."""
    if record.get("status") != "finished":
        return None
    metric = f"val_{TASKS[record['config']['task']['name']].metric}"
    values = [point[metric] for point in record.get("curves", {}).get("val", [])
              if metric in point]
    return float(values[-1]) if values else None
