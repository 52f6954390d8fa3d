"""A run's probe arrays and record as long tables, one row per point of a curve, for the
figures to reduce over seeds (`rnnmem.reporting.seeds`) and draw.

- `distance_curves`: g = ||dL/dh|| by distance from the loss, bottom layer, every direction;
- `sensitivity_curves`: the input sensitivity s_t per timestep;
- `gate_curves`: the mean gate activations per timestep;
  (each at the first probe, stage 'init', and the last, stage 'trained');
- `loss_curves`: the record's training and validation losses;
- `forgetting_curves`: every finished run's held-out forgetting curve per lag;
- `item_memory_curves`: every finished run's item memory per lag after training, each view
  by role (probe, end, storage); `item_memory_points`: the probe view beside the end view per
  (run, lag), with their correlation (`pearson`); `pooled_span`, the memory span of a mean
  forgetting curve over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnmem.measures.forgetting import memory_span, pool
from rnnmem.measures.probe import DIRECTIONS, by_distance
from rnnmem.reporting.labels import recorded_task
from rnnmem.reporting.records import load_item_memory
from rnnmem.reporting.seeds import range_band
from rnnmem.reporting.selection import finished
from rnnmem.rundir.record import read_record
from rnnmem.tasks import MemoryTask

STAGES = (("init", 0), ("trained", -1))  # (stage, probe index): the first probe and the last
CONFIG_AXES = ("task", "cell", "depth", "bidirectional")  # a configuration, pooled over T
FORGETTING_COLUMNS = [*CONFIG_AXES, "seq_len", "seed", "task_options", "lag", "value", "count"]
ROLES = ("probe", "end", "storage")  # item memory's views by role, in a record's order
ITEM_CURVE_COLUMNS = [*CONFIG_AXES, "seq_len", "seed", "run_dir", "role", "view", "lag",
                      "memory", "stderr", "count", "low", "high", "measured"]
ITEM_COLUMNS = [*CONFIG_AXES, "seq_len", "seed", "lag", "probe_view", "probe", "end_view",
                "end"]


def distance_curves(arrays: Mapping[str, np.ndarray], task: MemoryTask) -> pd.DataFrame:
    """g by distance from the loss, bottom layer, every direction, at the first probe (stage
    'init') and the last ('trained'): columns stage, step, direction, distance, g."""
    h_norm, steps = arrays["h_norm"], arrays["steps"]  # (P, L, D, T), (P,)
    frames = []
    for stage, index in STAGES:
        for k in range(h_norm.shape[2]):
            g = by_distance(h_norm[index, 0, k], task, DIRECTIONS[k])
            frames.append(pd.DataFrame({
                "stage": stage, "step": int(steps[index]), "direction": DIRECTIONS[k],
                "distance": np.arange(len(g)), "g": g,
            }))
    return pd.concat(frames, ignore_index=True)


def sensitivity_curves(arrays: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The input sensitivity s_t = ||dL/dx_t|| per timestep at the first probe (stage 'init')
    and the last ('trained'): columns stage, step, t, s (empty for a probe without `x_norm`)."""
    columns = ["stage", "step", "t", "s"]
    if "x_norm" not in arrays:
        return pd.DataFrame(columns=columns)
    norms, steps = arrays["x_norm"], arrays["steps"]  # (P, T), (P,)
    frames = [pd.DataFrame({"stage": stage, "step": int(steps[index]),
                            "t": np.arange(norms.shape[1]), "s": norms[index]})
              for stage, index in STAGES]
    return pd.concat(frames, ignore_index=True)[columns]


def gate_curves(arrays: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Mean gate activation per timestep, bottom layer, forward direction, at the first and the
    last probe: columns stage, step, gate, t, value (empty for a cell without gates)."""
    columns = ["stage", "step", "gate", "t", "value"]
    if "gate_mean" not in arrays:
        return pd.DataFrame(columns=columns)
    means, steps = arrays["gate_mean"], arrays["steps"]  # (P, L, D, G, T), (P,)
    frames = []
    for stage, index in STAGES:
        for g, gate in enumerate(arrays["gate_names"]):
            values = means[index, 0, 0, g]
            frames.append(pd.DataFrame({
                "stage": stage, "step": int(steps[index]), "gate": str(gate),
                "t": np.arange(len(values)), "value": values,
            }))
    return pd.concat(frames, ignore_index=True)[columns]


def loss_curves(curves: Mapping[str, Sequence[Mapping[str, float]]]) -> pd.DataFrame:
    """A record's learning curves as one table: columns split ('train', 'val'), step, loss."""
    frames = [
        pd.DataFrame({"split": split, "step": [int(p["step"]) for p in points],
                      "loss": [float(p[key]) for p in points]})
        for split, key in (("train", "train_loss"), ("val", "val_loss"))
        if (points := [p for p in curves.get(split, []) if key in p])
    ]
    if not frames:
        return pd.DataFrame(columns=["split", "step", "loss"])
    return pd.concat(frames, ignore_index=True)


def memoryless_baselines(record: Mapping[str, Any]) -> dict[str, float]:
    """The memoryless losses a record states, {what its predictor ignores: loss}
    (`MemoryTask.baselines`: 'inputs ignored', and for variable-delay copy also 'recall
    position known, symbols ignored'); a record from before `baselines` gives its one
    `baseline` as 'memoryless baseline'; {} where it states none."""
    if record.get("baselines"):
        return {str(name): float(value) for name, value in record["baselines"].items()}
    if record.get("baseline") is not None:
        return {"memoryless baseline": float(record["baseline"])}
    return {}


def run_axes(run: Any) -> dict[str, object]:
    """A finished run's grid axes (a row of `finished(runs).itertuples()`), typed, to tag the
    per-lag rows read from its record."""
    return {"task": run.task, "cell": run.cell, "depth": int(run.depth),
            "bidirectional": bool(run.bidirectional), "seq_len": int(run.seq_len),
            "seed": int(run.seed), "task_options": getattr(run, "task_options", None)}


def forgetting_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """The held-out forgetting curve per lag of every finished run that has one (records
    from before forgetting curves have none): columns FORGETTING_COLUMNS."""
    frames = []
    for run in finished(runs).itertuples():
        curve = (read_record(Path(run.run_dir)).get("forgetting") or {}).get("curve")
        if not curve:
            continue
        per_lag = pool(pd.DataFrame(curve))
        frames.append(per_lag.assign(**run_axes(run)))
    if not frames:
        return pd.DataFrame(columns=FORGETTING_COLUMNS)
    return pd.concat(frames, ignore_index=True)[FORGETTING_COLUMNS]


def pooled_span(task: str, seeds: pd.DataFrame) -> int:
    """The memory span (`rnnmem.measures.forgetting.memory_span`) of the mean over seeds of the
    curves of one T (columns lag, value, and task, seq_len, task_options): the lag up to which
    the configuration stays solved."""
    lags, mean, *_ = range_band(seeds, "lag", "value")
    return memory_span(lags.astype(int), mean, recorded_task(seeds, task))


def item_memory_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """Per finished run, view and lag, item memory after training
    (`rnnmem.measures.item_memory`; `rnnmem.reporting.records.load_item_memory` at each view's
    last step): `role` says which view it is, 'probe' (gradient or probability, the last
    probe), 'end' (intervention or choice, the end) or 'storage' (the end), `view` its name;
    every lag the item set holds, `measured` false where it had too few items. Records from
    before the storage view have two roles. Columns ITEM_CURVE_COLUMNS."""
    frames = []
    for run in finished(runs).itertuples():
        items = load_item_memory(run.run_dir)
        if items.empty:
            continue
        roles = dict(zip(views_of_record(read_record(Path(run.run_dir))), ROLES, strict=False))
        for view, mine in items.groupby("view", sort=False):
            if view not in roles:
                continue
            last = mine[mine["step"] == mine["step"].max()]
            frames.append(last.assign(role=roles[view], run_dir=str(run.run_dir),
                                      **run_axes(run)))
    if not frames:
        return pd.DataFrame(columns=ITEM_CURVE_COLUMNS)
    frame = pd.concat(frames, ignore_index=True)[ITEM_CURVE_COLUMNS]
    return frame.astype({"lag": np.int64, "count": np.int64, "measured": bool})


def views_of_record(record: Mapping[str, Any]) -> list[str]:
    """A record's item-memory views in ROLES' order (probe, end, storage): as the record
    names them, or (gradient, intervention) for records from before it did."""
    return list((record.get("item_memory") or {}).get("views", ["gradient", "intervention"]))


def item_memory_points(curves: pd.DataFrame) -> pd.DataFrame:
    """Per finished run and lag, the probe view (x: gradient or probability, at the last probe)
    beside the end view (y: intervention or choice, at the end) of `item_memory_curves`; only
    lags both views measured. Columns ITEM_COLUMNS: `probe` and `end` the two memories,
    `probe_view` and `end_view` their names."""
    keys = [*CONFIG_AXES, "seq_len", "seed", "lag"]
    sides = []
    for role in ("probe", "end"):
        mine = curves[(curves["role"] == role) & curves["measured"]]
        sides.append(mine[[*keys, "view", "memory"]].rename(
            columns={"view": f"{role}_view", "memory": role}))
    both = sides[0].merge(sides[1], on=keys, how="inner")
    return both[ITEM_COLUMNS].reset_index(drop=True)


def pearson(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Pearson's correlation of the finite pairs; NaN for fewer than three or a constant side."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or x[ok].std() == 0 or y[ok].std() == 0:
        return math.nan
    return float(np.corrcoef(x[ok], y[ok])[0, 1])
