"""Memory against recurrent state size (figure 10): the axis Zoology plots recall against
(Arora et al. 2023), with item memory's three views beside the task's metric.

Per task, at its longest T and for one (depth, direction) of the grid, one point per cell and
state size (`state_elements`: the recurrent state elements per layer a run trained with, both
directions; `rnnmem.models.budget`): the task's held-out metric and each item-memory view's
capacity fraction (`rnnmem.measures.item_memory`: the share of the measured lags remembered,
clipped memory summed), each as the mean over finished seeds with the smallest and largest
seed. The trend over state size is Spearman's rank correlation of the points, stated with their
number (no trend is claimed from fewer than four).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rnnmem.measures.item_memory import STORAGE, VIEWS
from rnnmem.reporting.labels import metric_spec, ordered_cells
from rnnmem.reporting.selection import finished, longest_lengths, select
from rnnmem.tasks import TASKS

POINT_COLUMNS = ["task", "seq_len", "cell", "state_elements", "n_params", "seeds", "quantity",
                 "mean", "low", "high"]
MIN_TREND_POINTS = 4


def quantities(task: str, runs: pd.DataFrame) -> list[tuple[str, str]]:
    """(name, column) of what figure 10 shows for `task`: its metric, then the capacity
    fraction of each item-memory view its kind of item has (none for a task without items)."""
    shown = [("metric", metric_spec(task, runs).column)]
    kind = TASKS[task].item_kind if task in TASKS else None
    if kind is not None:
        shown += [(view, f"{view}_capacity_fraction") for view in (*VIEWS[kind], STORAGE)]
    return shown


def state_points(runs: pd.DataFrame) -> pd.DataFrame:
    """The points of figure 10 for `runs` (one (depth, direction)): per task at its longest T,
    per cell and state size, each quantity's mean, smallest and largest over the finished seeds
    that have it; columns POINT_COLUMNS."""
    rows = []
    for task, length in longest_lengths(runs).items():
        done = finished(select(runs, task=task, seq_len=length))
        if done.empty or done["state_elements"].isna().all():
            continue
        for (cell, size), group in done.groupby(["cell", "state_elements"], sort=True):
            for quantity, column in quantities(task, runs):
                values = group[column].to_numpy(dtype=float) if column in group else []
                values = values[np.isfinite(values)]
                if len(values):
                    rows.append({"task": task, "seq_len": length, "cell": cell,
                                 "state_elements": int(size),
                                 "n_params": int(group["n_params"].median()),
                                 "seeds": len(values), "quantity": quantity,
                                 "mean": values.mean(), "low": values.min(),
                                 "high": values.max()})
    frame = pd.DataFrame(rows, columns=POINT_COLUMNS)
    rank = {cell: index for index, cell in enumerate(ordered_cells(frame["cell"]))}
    frame = frame.assign(rank=frame["cell"].map(rank))
    return frame.sort_values(["task", "quantity", "rank", "state_elements"], kind="stable")[
        POINT_COLUMNS].reset_index(drop=True)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN for fewer than
    MIN_TREND_POINTS points or a constant side."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < MIN_TREND_POINTS:
        return math.nan
    rx, ry = (pd.Series(v).rank().to_numpy() for v in (x, y))
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def trends(points: pd.DataFrame) -> pd.DataFrame:
    """Per task and quantity: the number of points and Spearman's correlation of the mean
    against state size (`spearman`); columns task, quantity, points, rho."""
    rows = [{"task": task, "quantity": quantity, "points": len(group),
             "rho": spearman(group["state_elements"], group["mean"])}
            for (task, quantity), group in points.groupby(["task", "quantity"], sort=True)]
    return pd.DataFrame(rows, columns=["task", "quantity", "points", "rho"])
