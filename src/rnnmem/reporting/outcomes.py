"""What each configuration achieved, as data for the figures that show it: per cell and
length T its held-out metric over seeds and whether it was solved (figure 2,
`capacity_curve`), and per cell x (depth, direction) the memory headline at the task's longest
T (item memory's capacity as a fraction of the measured lags, with its span) and the longest T
solved, with each column's own range of lags (figure 4, `depth_direction_grid`).

Seeds follow `rnnmem.reporting.seeds` (metrics: mean and min-max; solved: by most completed
seeds); only finished runs give numbers, and an entry without one says why
(`rnnmem.reporting.gaps.why_empty`), one with some runs not finished is starred."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from rnnmem.reporting.gaps import star, why_empty
from rnnmem.reporting.labels import ordered_cells, recorded_task
from rnnmem.reporting.seeds import SeedBand, range_band, solved_by_majority
from rnnmem.reporting.selection import (
    MemoryHeadline,
    finished,
    lengths_of,
    memory_headline,
    select,
    tasks_of,
    variants,
)
from rnnmem.tasks import MemoryTask

COMPLETED = ("finished", "diverged")  # the statuses whose runs count towards "solved"


@dataclass(frozen=True)
class CapacityCurve:
    """One cell's held-out metric against T: the finished seeds' band (`range_band` over
    seq_len), whether each of its lengths is solved by most completed seeds (aligned with
    `band.x`), and the lengths of the grid without a finished run."""

    band: SeedBand
    solved: np.ndarray
    unfinished: list[int]


def capacity_curve(rows: pd.DataFrame, column: str) -> CapacityCurve:
    """The CapacityCurve of `rows` (one task and cell, every status) on the metric `column`."""
    band = range_band(finished(rows), "seq_len", column)
    solved = np.array([solved_by_majority(rows[rows["seq_len"] == t]) for t in band.x], bool)
    unfinished = sorted(set(lengths_of(rows)) - {int(t) for t in band.x})
    return CapacityCurve(band, solved, unfinished)


@dataclass(frozen=True)
class TaskGrid:
    """One task's two grids, cell x (depth, direction), each entry a value and its text:

    - `headline[i, j]`: the memory headline's mean over the finished seeds at the longest T
      (NaN: none finished; its text then says why); text 'mean ± std' (sample std; the value
      alone for one seed), with the mean span over the same seeds on a second line where the
      headline has one ('span 28.5'), starred where some runs there did not finish;
    - `solved[i, j]`: 1 + the index in `lengths` of the longest T that most completed seeds
      solved, 0 where none is (text 'none'), NaN where no run completed (text: why);
    - `lags[j]`: the (smallest, largest) lag of column j's networks at the longest T
      (`lag_range`; None for a task without items), `reach`: the scale's top for a headline
      in steps (the largest lag, or the loss anchor for the memory horizon; None for a
      fraction); `view`: the item-memory view behind the headline (None for older
      records)."""

    lengths: list[int]
    headline: np.ndarray
    headline_text: list[list[str]]
    solved: np.ndarray
    solved_text: list[list[str]]
    lags: list[tuple[int, int] | None]
    reach: int | None
    view: str | None = None

    @property
    def longest(self) -> int:
        return self.lengths[-1]


@dataclass(frozen=True)
class DepthDirectionGrid:
    """Figure 4's data: the tasks, cells (registry order) and (depth, direction) variants of the
    sweep, the memory headline (`memory_headline`), and each task's grids (`grids[task]`; a
    task without a known length has none)."""

    tasks: list[str]
    cells: list[str]
    variants: list[tuple[int, bool]]
    headline: MemoryHeadline
    grids: dict[str, TaskGrid]

    @property
    def column(self) -> str:
        return self.headline.column

    @property
    def label(self) -> str:
        return self.headline.label


def depth_direction_grid(runs: pd.DataFrame) -> DepthDirectionGrid:
    """Figure 4's grids from every row of a sweep (columns task, cell, depth, bidirectional,
    seq_len, status, solved and the memory headline's columns)."""
    tasks, cells, combos = tasks_of(runs), ordered_cells(runs["cell"]), variants(runs)
    headline = memory_headline(runs)
    grids = {}
    for task in tasks:
        rows = runs[runs["task"] == task]
        if lengths_of(rows):
            grids[task] = task_grid(rows, cells, combos, headline)
    return DepthDirectionGrid(tasks, cells, combos, headline, grids)


def lag_range(task: MemoryTask, bidirectional: bool) -> tuple[int, int] | None:
    """The smallest and the largest lag of `task`'s items for a network of that direction
    (`rnnmem.tasks.items.MemoryItems.lags`: steps to the nearest readout; a bidirectional
    adding net reads every item within (T - 1) // 2 steps); None for a task without items."""
    if task.item_kind is None:
        return None
    lags = task.memory_items(task.memory_set(1, torch.Generator().manual_seed(0))
                             ).lags(bidirectional)
    return int(lags.min()), int(lags.max())


def steps_text(value: float) -> str:
    """A mean number of steps, one decimal where it has one: '29', '28.5'."""
    return f"{value:.1f}".removesuffix(".0")


def task_grid(rows: pd.DataFrame, cells: list[str], combos: list[tuple[int, bool]],
              headline: MemoryHeadline) -> TaskGrid:
    """The TaskGrid of one task's rows (with at least one known length) on `headline`, over
    `cells` x `combos`."""
    lengths = lengths_of(rows)
    longest = lengths[-1]
    task = rows["task"].iloc[0]
    column, digits = headline.column, 2 if headline.fraction else 1
    values_grid = np.full((len(cells), len(combos)), np.nan)
    solved_index = np.full((len(cells), len(combos)), np.nan)
    headline_text = [[""] * len(combos) for _ in cells]
    solved_text = [[""] * len(combos) for _ in cells]
    for i, cell in enumerate(cells):
        for j, (depth, bidirectional) in enumerate(combos):
            config = select(rows, cell=cell, depth=depth, bidirectional=bidirectional)
            at_longest = select(config, seq_len=longest)
            done = finished(at_longest)
            values = done[column].to_numpy(dtype=float)
            kept = np.isfinite(values)
            if kept.any():
                mean = values[kept].mean()
                values_grid[i, j] = mean
                text = (f"{mean:.{digits}f} ± {values[kept].std(ddof=1):.{digits}f}"
                        if kept.sum() > 1 else f"{mean:.{digits}f}")
                if headline.span is not None:
                    spans = done[headline.span].to_numpy(dtype=float)[kept]
                    spans = spans[np.isfinite(spans)]
                    text += f"\nspan {steps_text(spans.mean())}" if len(spans) else ""
                headline_text[i][j] = text + star(at_longest)
            else:
                headline_text[i][j] = why_empty(at_longest)
            if config[config["status"].isin(COMPLETED)].empty:
                solved_text[i][j] = why_empty(config)
                continue
            solved = [t for t in lengths if solved_by_majority(select(config, seq_len=t))]
            solved_index[i, j] = lengths.index(solved[-1]) + 1 if solved else 0
            solved_text[i][j] = (str(solved[-1]) if solved else "none") + star(config)
    example = recorded_task(rows, task, longest)
    lags = [lag_range(example, bidirectional) for _, bidirectional in combos]
    if headline.fraction:
        reach = None
    elif column == "memory_horizon" or not any(lags):
        reach = example.loss_anchor
    else:
        reach = max(high for _, high in filter(None, lags))
    views = rows["item_view"].dropna() if "item_view" in rows else pd.Series(dtype=object)
    view = str(views.iloc[0]) if headline.span is not None and len(views) else None
    return TaskGrid(lengths, values_grid, headline_text, solved_index, solved_text, lags,
                    reach, view)
