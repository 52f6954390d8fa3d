"""Read run records into pandas: one run, its gradient norms, or a whole sweep.

`load_run` flattens a run's `record.json` into one mapping (the config axes, status, metrics,
baseline, solved, the last probe's memory summaries, timings); `load_sweep` stacks those for
every run directory under a sweep; `load_grad_norms` turns `probe.npz` into a long DataFrame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnmem.probe import DIRECTIONS
from rnnmem.record import RECORD_FILE, read_probe_arrays, read_record

AXES = ("task", "cell", "depth", "bidirectional", "seq_len", "seed", "hidden_size")
SUMMARIES = ("memory_horizon", "log10_grad_ratio", "decay_rate")
NUMBERS = (
    "test_loss", "test_acc", "test_exact", "test_mse", "baseline", "train_steps",
    "train_steps_per_sec", "fit_seconds", "wall_seconds",
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
        "hidden_size": model.get("hidden_size"),
        "seed": config.get("seed"),
        "solved": bool(record.get("solved", False)),
        "error": record.get("error"),
    }
    for key in NUMBERS:
        row[key] = record.get(key, np.nan)
    probe = record.get("probe") or {}
    for key in SUMMARIES:
        values = probe.get(key) or [np.nan]
        row[key] = values[-1]
    return row


def load_run(run_dir: Path | str) -> dict[str, Any]:
    """One run's record as a flat mapping (see `flatten_record`)."""
    return flatten_record(read_record(Path(run_dir)), run_dir)


def find_runs(sweep_dir: Path | str) -> list[Path]:
    """Every directory under `sweep_dir` that holds a run record, sorted."""
    return sorted(path.parent for path in Path(sweep_dir).rglob(RECORD_FILE))


def load_sweep(sweep_dir: Path | str) -> pd.DataFrame:
    """One row per recorded run under `sweep_dir`, sorted by the config axes."""
    rows = [load_run(run_dir) for run_dir in find_runs(sweep_dir)]
    frame = pd.DataFrame(rows, columns=list(flatten_record({}).keys()))
    if frame.empty:
        return frame
    return frame.sort_values(list(AXES) + ["run_dir"], kind="stable").reset_index(drop=True)


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
