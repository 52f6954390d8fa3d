"""What each configuration can hold: the held-out metric against T per cell (figure 2,
`memory_capacity`), and the cell x (depth, direction) grids of the memory headline and of the
longest T solved (figure 4, `depth_direction`), with the numbers of
`rnnmem.reporting.outcomes`."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import BoundaryNorm, ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from rnnmem.reporting.figures.drawing import (
    WIDE,
    band_handles,
    cell_colour,
    cell_handles,
    finish,
    length_axis,
    metric_axis,
    no_tasks,
    paper_figure,
    seed_band,
    styled,
)
from rnnmem.reporting.labels import (
    cell_label,
    metric_spec,
    ordered_cells,
    task_text,
    variant_label,
)
from rnnmem.reporting.outcomes import DepthDirectionGrid, capacity_curve
from rnnmem.reporting.selection import lengths_of, tasks_of


@styled
def memory_capacity(runs: pd.DataFrame, title: str = "", notes: Sequence[str] = ()) -> Figure:
    """Final held-out metric against length T: a panel per task, one line per cell (mean over
    finished seeds, min-max band), the memoryless baseline dashed, the solved threshold dotted,
    filled markers where the configuration is solved, x at the foot where no run finished
    (`rnnmem.reporting.outcomes.capacity_curve`).

    `runs`: the rows of one (depth, direction), any status; columns task, cell, seq_len, seed,
    status, solved and each task's metric column (`rnnmem.reporting.labels.metric_spec`)."""
    tasks = tasks_of(runs)
    fig, panel, axes = paper_figure(WIDE, 2.9, notes, ncols=max(len(tasks), 1), squeeze=False)
    no_tasks(axes, tasks)
    no_run = banded = False
    for ax, task in zip(axes[0], tasks, strict=False):
        spec = metric_spec(task, runs)
        rows = runs[runs["task"] == task]
        for cell in ordered_cells(rows["cell"]):
            curve = capacity_curve(rows[rows["cell"] == cell], spec.column)
            colour = cell_colour(cell)
            banded |= seed_band(ax, curve.band, colour, lw=1.4, label=cell_label(cell))
            ax.scatter(curve.band.x, curve.band.centre, s=22, zorder=3, edgecolors=colour,
                       linewidths=1.2, facecolors=[colour if s else "white" for s in curve.solved])
            if curve.unfinished:
                no_run = True
                ax.plot(curve.unfinished, [0.03] * len(curve.unfinished), ls="none", marker="x",
                        color=colour, ms=6, clip_on=False, transform=ax.get_xaxis_transform())
        metric_axis(ax, spec, linear_limits=(-0.1, 1.04))
        length_axis(ax, lengths_of(rows), task)
        ax.set_ylabel(f"{spec.label} (held-out)")
        ax.set_title(task)
        ax.grid(True, which="major", alpha=0.3, lw=0.5)
    handles: list[object] = cell_handles(ordered_cells(runs["cell"]), runs=runs)
    references = [label for label in dict.fromkeys(  # one entry per distinct label
        metric_spec(t, runs).baseline_label for t in tasks) if label]
    handles += [Line2D([], [], color="0.3", ls="--", label=label) for label in references]
    handles += [
        Line2D([], [], color="0.3", ls=":", label="solved threshold"),
        Line2D([], [], color="0.3", ls="none", marker="o", label="solved"),
        Line2D([], [], color="0.3", ls="none", marker="o", markerfacecolor="white",
               label="not solved"),
    ]
    handles += band_handles("min-max over seeds", banded)
    if no_run:
        handles.append(Line2D([], [], color="0.3", ls="none", marker="x",
                              label="no finished run (listed below)"))
    return finish(fig, panel, handles, title, ncols=4)


@styled
def depth_direction(grid: DepthDirectionGrid, title: str = "",
                    notes: Sequence[str] = ()) -> Figure:
    """Cell x (depth, direction) grids per task: the memory headline at the task's longest T
    (mean +- std over finished seeds): item memory's capacity as a fraction of the measured
    lags, coloured, with the mean span below it (`item_capacity_fraction`, `item_span`, of the
    task's headline view); for records that predate it the item-memory span in steps
    (`intervention_span`), memory coverage or the memory horizon; and the longest T solved.
    Each column's label names its own lags at the longest T (a bidirectional adding net reads
    every item within (T - 1) // 2 steps). A grid point without a finished run says why
    (failed, diverged, missing); 'none': nothing solved; '*': some of its runs did not finish
    (they are listed under the figure).

    `grid`: `rnnmem.reporting.outcomes.depth_direction_grid` of every row of the sweep."""
    cells, combos = grid.cells, grid.variants
    nrows = 2 * max(len(grid.tasks), 1)
    spanned = grid.headline.span is not None
    height = ((0.42 if spanned else 0.3) * max(len(cells), 1) + 0.95) * nrows + 0.3
    fig, panel, axes = paper_figure(WIDE, height, notes, nrows=nrows, ncols=1, squeeze=False)
    no_tasks(axes, grid.tasks)
    names = [variant_label(d, b).replace("directional", "dir.") for d, b in combos]
    for row, task in enumerate(grid.tasks):
        if task not in grid.grids:
            continue
        mine = grid.grids[task]
        ax_h, ax_s = axes[2 * row, 0], axes[2 * row + 1, 0]
        labels = [f"{name}\n{lag_text(lags)}" if lags else name
                  for name, lags in zip(names, mine.lags, strict=True)]
        if grid.headline.fraction:
            image = _grid(ax_h, mine.headline, mine.headline_text, "viridis", Normalize(0, 1))
            name = "capacity" if spanned else "coverage"
            panel.colorbar(image, ax=ax_h, label=f"{name} (fraction)", aspect=10)
            if spanned:
                ax_h.set_title(f"{task}: item memory after training at T = {mine.longest}, "
                               f"{mine.view or 'headline'} view:\ncapacity (fraction of the "
                               f"measured lags) and span (steps)")
            else:
                ax_h.set_title(f"{task}: memory coverage after training, at T = {mine.longest}")
        else:
            finite = np.isfinite(mine.headline).any()
            top = max(mine.reach, np.nanmax(mine.headline) if finite else 1.0)
            image = _grid(ax_h, mine.headline, mine.headline_text, "viridis", Normalize(0, top))
            name = grid.label.split(" (")[0]
            bar = panel.colorbar(image, ax=ax_h, label=f"{name.split()[-1]} (steps)", aspect=10)
            bar.ax.yaxis.set_major_locator(MaxNLocator(5, integer=True))
            ax_h.set_title(f"{task}: {name} after training, at T = {mine.longest}")
        lengths = mine.lengths
        colours = ListedColormap(["#d9d9d9"] + list(plt.get_cmap("YlGnBu")(
            np.linspace(0.3, 0.95, len(lengths)))))
        bounds = np.arange(len(lengths) + 2) - 0.5
        image = _grid(ax_s, mine.solved, mine.solved_text, colours,
                      BoundaryNorm(bounds, colours.N))
        bar = panel.colorbar(image, ax=ax_s, label="T (steps)", aspect=10,
                             ticks=np.arange(len(lengths) + 1))
        bar.ax.set_yticklabels(["none"] + [str(t) for t in lengths])
        bar.ax.minorticks_off()
        length_name = task_text(task, "length_label", "T").split(" (")[0]
        ax_s.set_title(f"{task}: longest {length_name} solved")
        ax_h.set_xticks(range(len(combos)), labels)
        ax_s.set_xticks(range(len(combos)), names)
        for ax in (ax_h, ax_s):
            ax.set_yticks(range(len(cells)), [cell_label(c) for c in cells])
            ax.tick_params(length=0)
    return finish(fig, panel, [], title)


def lag_text(lags: tuple[int, int]) -> str:
    """A column's lags at the longest T: 'lags 0-29', or 'lag 40' where there is one."""
    low, high = lags
    return f"lag {high}" if low == high else f"lags {low}-{high}"


def _grid(ax: object, values: np.ndarray, text: list[list[str]], cmap: object,
          norm: Normalize) -> object:
    """An annotated cell grid; NaN cells grey with their text (the reason) in italics, the
    others' text white on a dark colour and black on a light one."""
    cmap = plt.get_cmap(cmap).with_extremes(bad="#f0f0f0")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            luminance = np.dot(cmap(norm(value))[:3], (0.299, 0.587, 0.114))
            colour, style = ("white" if luminance < 0.5 else "black"), "normal"
        else:
            colour, style = "0.3", "italic"
        ax.text(j, i, text[i][j], ha="center", va="center", fontsize=8, color=colour,
                style=style, linespacing=1.0)
    return image
