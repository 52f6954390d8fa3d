"""Read run records into pandas: one run, its gradient norms, or a whole sweep.

`load_run` flattens a run's `record.json` into one mapping (the config axes and the task's
options, the hidden size, parameter count `n_params`, state size N (`state_size`), recurrent
state elements per layer (`state_elements`) and lr the model trained with, status, metrics,
baseline, solved, the memory measures of the last probe and of the first, timings);
`load_sweep` stacks those for every run directory under a sweep; `load_grad_norms`,
`load_input_sensitivity` and `load_item_memory` turn `probe.npz` (and the record's
intervention view) into long DataFrames. The same mapping can be read back from W&B
(`rnnmem.tracking.readback`).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnmem.config import direction_label
from rnnmem.measures.probe import DIRECTIONS
from rnnmem.rundir.paths import SweepDir
from rnnmem.rundir.record import CorruptRecord, read_probe_arrays, read_record
from rnnmem.tasks import AXIS_KEYS as TASK_AXIS_KEYS
from rnnmem.tasks import TASKS

AXES = ("task", "cell", "depth", "bidirectional", "seq_len", "seed", "hidden_size")
# The last probe's headline measures (`rnnmem.measures.probe`): input-sensitivity coverage and
# its scale, and the bottom layer's forward gradient summaries; `<name>_init` are the first
# probe's (step 0).
HEADLINE_SUMMARIES = (
    "memory_coverage", "sensitivity_scale", "memory_horizon", "log10_grad_ratio", "decay_rate",
    "grad_ratio_is_bound",
)
AT_INIT = ("memory_coverage", "memory_horizon")
# Item memory's headlines (`rnnmem.measures.item_memory`), one set per view: the probe view
# (gradient or probability) at the last probe and the first, the end views (intervention or
# choice, and storage) at the end and at init; `item_*` repeats the task's headline view (the
# end view: intervention or choice), which figure 4 and Table 1 show.
ITEM_VIEWS = ("gradient", "probability", "intervention", "choice", "storage")
ITEM_FIELDS = ("span", "span_is_bound", "capacity", "capacity_low", "capacity_high",
               "capacity_fraction")
ITEM_COLUMNS = tuple(f"{view}_{field}" for view in (*ITEM_VIEWS, "item")
                     for field in (*ITEM_FIELDS, "span_init", "capacity_init"))
NUMBERS = (
    "test_loss", "test_acc", "test_exact", "test_seq_acc", "test_mse", "baseline", "train_steps",
    "train_steps_per_sec", "train_seconds", "fit_seconds", "wall_seconds", "memory_span",
)


def task_options_text(task: dict[str, Any]) -> str:
    """The options of a config's `task` section (its keys beyond AXIS_KEYS that are not null,
    e.g. MQAR's vocab_size, num_pairs, power_a) as sorted JSON, "{}" for none: one hashable
    cell, from which `rnnmem.reporting.labels.recorded_task` builds the task again."""
    options = {key: value for key, value in task.items()
               if key not in TASK_AXIS_KEYS and value is not None}
    return json.dumps(options, sort_keys=True)


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
        "task_options": task_options_text(task),
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
    for key in (*NUMBERS, *ITEM_COLUMNS):
        row[key] = record.get(key, np.nan)
    probe = record.get("probe") or {}
    at_step_0 = (probe.get("steps") or [None])[0] == 0
    for key in HEADLINE_SUMMARIES:
        row[key] = (probe.get(key) or [np.nan])[-1]
    for key in AT_INIT:
        row[f"{key}_init"] = (probe.get(key) or [np.nan])[0] if at_step_0 else np.nan
    view = probe.get("item_view")
    if view is not None:  # the probe view, per probe
        for field in ITEM_FIELDS:
            row[f"{view}_{field}"] = (probe.get(f"item_{field}") or [np.nan])[-1]
        for field in ("span", "capacity"):
            first = (probe.get(f"item_{field}") or [np.nan])[0]
            row[f"{view}_{field}_init"] = first if at_step_0 else np.nan
    headline = record.get("item_view")
    if headline is not None:
        for field in (*ITEM_FIELDS, "span_init", "capacity_init"):
            row[f"item_{field}"] = row[f"{headline}_{field}"]
    row["item_view"] = headline
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
    "test_loss", "baseline", "solved", "n_params", "item_view", "item_capacity",
    "item_capacity_fraction", "item_span", "item_span_is_bound", "storage_capacity_fraction",
    "status",
)  # the sweep's summary table (`summary.md`, `summary.csv`) and Table 1's table1_runs.csv


def summary_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: config -> held-out metric, baseline, solved, parameter count, item
    memory's headline view (its capacity, fraction of the measured lags, span and is-bound
    flag) and storage's capacity fraction, status."""
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


ITEM_MEMORY_COLUMNS = ["step", "view", "lag", "memory", "stderr", "count", "low", "high",
                       "measured"]


def load_item_memory(run_dir: Path | str) -> pd.DataFrame:
    """Long table of a run's item memory per lag (`rnnmem.measures.item_memory`): columns step,
    view (the probe view, gradient or probability: every probe, from `probe.npz`; the end views,
    intervention or choice and storage: init and end, from the record), lag, memory, stderr,
    count, the 95% interval's low and high end, and `measured` (false at a lag with items but
    too few to say anything: memory NaN); every lag the item set holds (count > 0)."""
    curves: list[tuple[int, str, np.ndarray]] = []
    arrays = read_probe_arrays(Path(run_dir))
    record = read_record(Path(run_dir))
    memory = record.get("item_memory") or {}
    probe_view = (record.get("probe") or {}).get("item_view", "gradient")
    if "item_memory" in arrays:
        curves += [(int(step), probe_view, curve)
                   for step, curve in zip(arrays["steps"], arrays["item_memory"], strict=True)]
    for view in memory.get("views", ["gradient", "intervention"])[1:]:
        curves += [(entry["step"], view, np.array(entry["curve"], dtype=float))
                   for entry in memory.get(view, [])]
    frames = []
    for step, view, curve in curves:
        lags = np.flatnonzero(curve[2] > 0)
        rows = {name: curve[k, lags] if k < len(curve) else np.nan
                for k, name in enumerate(("memory", "stderr", "count", "low", "high"))}
        frames.append(pd.DataFrame({"step": step, "view": view, "lag": lags, **rows,
                                    "measured": ~np.isnan(rows["memory"])}))
    if not frames:
        return pd.DataFrame(columns=ITEM_MEMORY_COLUMNS)
    frame = pd.concat(frames, ignore_index=True)[ITEM_MEMORY_COLUMNS]
    return frame.astype({"count": np.int64})


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
