"""What each configuration achieved, as data for the figures that show it: per cell and
length T its held-out metric over seeds and whether it was solved (figure 2,
`capacity_curve`), and per cell x (depth, direction) the memory headline at the task's longest
T and the longest T solved (figure 4, `depth_direction_grid`).

Seeds follow `rnnmem.reporting.seeds` (metrics: mean and min-max; solved: by most completed
seeds); only finished runs give numbers, and an entry without one says why
(`rnnmem.reporting.gaps.why_empty`), one with some runs not finished is starred."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnmem.reporting.gaps import star, why_empty
from rnnmem.reporting.labels import ordered_cells, recorded_task
from rnnmem.reporting.seeds import SeedBand, range_band, solved_by_majority
from rnnmem.reporting.selection import (
    finished,
    lengths_of,
    memory_headline,
    select,
    tasks_of,
    variants,
)

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
      alone for one seed), starred where some runs there did not finish;
    - `solved[i, j]`: 1 + the index in `lengths` of the longest T that most completed seeds
      solved, 0 where none is (text 'none'), NaN where no run completed (text: why);
    - `reach`: the largest lag or distance at the longest T (the task's loss anchor), the
      scale's top for a headline in steps; None for memory coverage (a fraction)."""

    lengths: list[int]
    headline: np.ndarray
    headline_text: list[list[str]]
    solved: np.ndarray
    solved_text: list[list[str]]
    reach: int | None

    @property
    def longest(self) -> int:
        return self.lengths[-1]


@dataclass(frozen=True)
class DepthDirectionGrid:
    """Figure 4's data: the tasks, cells (registry order) and (depth, direction) variants of the
    sweep, the memory headline's column and label (`memory_headline`), and each task's grids
    (`grids[task]`; a task without a known length has none)."""

    tasks: list[str]
    cells: list[str]
    variants: list[tuple[int, bool]]
    column: str
    label: str
    grids: dict[str, TaskGrid]


def depth_direction_grid(runs: pd.DataFrame) -> DepthDirectionGrid:
    """Figure 4's grids from every row of a sweep (columns task, cell, depth, bidirectional,
    seq_len, status, solved and the memory headline's column)."""
    tasks, cells, combos = tasks_of(runs), ordered_cells(runs["cell"]), variants(runs)
    column, label = memory_headline(runs)
    grids = {}
    for task in tasks:
        rows = runs[runs["task"] == task]
        if lengths_of(rows):
            grids[task] = task_grid(rows, cells, combos, column)
    return DepthDirectionGrid(tasks, cells, combos, column, label, grids)


def task_grid(rows: pd.DataFrame, cells: list[str], combos: list[tuple[int, bool]],
              column: str) -> TaskGrid:
    """The TaskGrid of one task's rows (with at least one known length) on the headline
    `column`, over `cells` x `combos`."""
    lengths = lengths_of(rows)
    longest = lengths[-1]
    digits = 2 if column == "memory_coverage" else 1
    headline = np.full((len(cells), len(combos)), np.nan)
    solved_index = np.full((len(cells), len(combos)), np.nan)
    headline_text = [[""] * len(combos) for _ in cells]
    solved_text = [[""] * len(combos) for _ in cells]
    for i, cell in enumerate(cells):
        for j, (depth, bidirectional) in enumerate(combos):
            config = select(rows, cell=cell, depth=depth, bidirectional=bidirectional)
            at_longest = select(config, seq_len=longest)
            values = finished(at_longest)[column].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            if len(values):
                headline[i, j] = values.mean()
                text = (f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"
                        if len(values) > 1 else f"{values[0]:.{digits}f}")
                headline_text[i][j] = text + star(at_longest)
            else:
                headline_text[i][j] = why_empty(at_longest)
            if config[config["status"].isin(COMPLETED)].empty:
                solved_text[i][j] = why_empty(config)
                continue
            solved = [t for t in lengths if solved_by_majority(select(config, seq_len=t))]
            solved_index[i, j] = lengths.index(solved[-1]) + 1 if solved else 0
            solved_text[i][j] = (str(solved[-1]) if solved else "none") + star(config)
    task = rows["task"].iloc[0]
    reach = (None if column == "memory_coverage"
             else recorded_task(rows, task, longest).loss_anchor)
    return TaskGrid(lengths, headline, headline_text, solved_index, solved_text, reach)
