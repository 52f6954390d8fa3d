"""Memory per lag, the steps between an item and its readout: the held-out forgetting curve of
each configuration at one T (figure 7, `forgetting`), and item memory in the gradient view
against the intervention view (figure 8, `item_memory_views`)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from rnnmem.reporting.figures.drawing import (
    WIDE,
    band_handles,
    cell_colour,
    cell_handles,
    finish,
    metric_axis,
    no_data,
    no_tasks,
    paper_figure,
    seed_band,
    styled,
)
from rnnmem.reporting.labels import cell_label, metric_spec, ordered_cells, variant_label
from rnnmem.reporting.seeds import range_band
from rnnmem.reporting.selection import select, variants

SPAN_TITLE_WIDTH = 48  # characters per line of a forgetting panel's memory spans
VARIANT_MARKERS = "osD^vP*X"  # one marker per (depth, direction) in figure 8


@styled
def forgetting(curves: pd.DataFrame, task: str, spans: Mapping[tuple[str, int, bool], int],
               title: str = "", notes: Sequence[str] = ()) -> Figure:
    """The held-out metric against lag (steps between the information and the readout) at one
    T (never pooled over T: each T's items sit at their own lags): a panel per (depth,
    direction), rows by depth, one line per cell (mean over seeds, min-max band), the solved
    threshold dotted, the memoryless value dashed; each panel names every cell's memory span.

    `curves`: one task's and one T's rows of `rnnmem.reporting.curves.forgetting_curves`
    (columns cell, depth, bidirectional, seed, lag, value, count); `spans[(cell, depth,
    bidirectional)]`: the span of the mean curve (`rnnmem.reporting.curves.pooled_span`)."""
    spec = metric_spec(task, curves)
    combos = variants(curves) or [(1, False)]
    depths = sorted({d for d, _ in combos})
    directions = sorted({b for _, b in combos})
    fig, panel, axes = paper_figure(WIDE, 2.3 * len(depths) + 0.5, notes, nrows=len(depths),
                                    ncols=len(directions), squeeze=False, sharey=True)
    banded = False
    for row, depth in enumerate(depths):
        for col, bidirectional in enumerate(directions):
            ax = axes[row, col]
            ax.set_title(variant_label(depth, bidirectional))
            mine = select(curves, depth=depth, bidirectional=bidirectional)
            if mine.empty:
                no_data(ax, "no finished run\n(listed below)")
                continue
            span_text = []
            for cell in ordered_cells(mine["cell"]):
                banded |= seed_band(ax, range_band(select(mine, cell=cell), "lag", "value"),
                                    cell_colour(cell), lw=1.4, marker="o", ms=2.5,
                                    label=cell_label(cell))
                span_text.append(f"{cell_label(cell)} {spans[(cell, depth, bidirectional)]}")
            # wrapped: four cells' spans on one line run into the next panel's title
            ax.set_title("\n".join([variant_label(depth, bidirectional), *textwrap.wrap(
                "memory span: " + ", ".join(span_text), SPAN_TITLE_WIDTH)]))
            ax.xaxis.set_major_locator(MaxNLocator(8, integer=True))
            metric_axis(ax, spec, linear_limits=(-0.05, 1.05))
            ax.set_xlabel("lag (steps from the information to the readout)")
            ax.grid(True, which="major", alpha=0.3, lw=0.5)
        axes[row, 0].set_ylabel(f"{spec.label} (held-out)")
    handles: list[object] = cell_handles(ordered_cells(curves["cell"]), marker="o")
    handles += [Line2D([], [], color="0.3", ls=":", label="solved threshold"),
                Line2D([], [], color="0.3", ls="--", label=spec.baseline_label or "baseline")]
    handles += band_handles("min-max over seeds", banded)
    return finish(fig, panel, handles, title, ncols=3)


@styled
def item_memory_views(points: pd.DataFrame, tasks: Sequence[str],
                      correlations: Mapping[str, float], title: str = "",
                      notes: Sequence[str] = ()) -> Figure:
    """Item memory per lag, gradient view (x, the probe batch at the last probe) against the
    intervention view (y, the test set at the end): a panel per task, one point per (run, lag),
    colour per cell, marker per (depth, direction), the diagonal where the views agree; each
    title gives Pearson's correlation over the panel's points (`correlations[task]`).

    `points`: `rnnmem.reporting.curves.item_memory_points` rows."""
    ncols = max(len(tasks), 1)
    fig, panel, axes = paper_figure(WIDE, 3.3, notes, nrows=1, ncols=ncols, squeeze=False)
    no_tasks(axes, tasks)
    combos = variants(points)
    markers = dict(zip(combos, VARIANT_MARKERS, strict=False))
    for col, task in enumerate(tasks):
        ax = axes[0, col]
        rho = correlations.get(task, math.nan)
        rho_text = f"r = {rho:+.2f}" if math.isfinite(rho) else "r n/a"
        data = points[points["task"] == task]
        ax.set_title(f"{task}: {rho_text}, {len(data)} (run, lag) points")
        ax.plot([0, 1], [0, 1], color="0.5", ls="--", lw=0.8)
        if data.empty:
            no_data(ax, "no item memory\n(listed below)")
        for cell in ordered_cells(data["cell"]):
            for depth, bidirectional in combos:
                mine = select(data, cell=cell, depth=depth, bidirectional=bidirectional)
                if not mine.empty:
                    ax.scatter(mine["gradient"], mine["intervention"], s=10, alpha=0.6,
                               marker=markers[(depth, bidirectional)], color=cell_colour(cell),
                               linewidths=0)
        ax.set_xlabel("gradient view (probe batch, last probe)")
        ax.grid(True, which="major", alpha=0.3, lw=0.5)
    axes[0, 0].set_ylabel("intervention view (test set, end)")
    handles: list[object] = cell_handles(ordered_cells(points["cell"]))
    handles += [Line2D([], [], color="0.3", ls="none", marker=markers[c],
                       label=variant_label(*c)) for c in combos]
    handles.append(Line2D([], [], color="0.5", ls="--", label="views agree"))
    return finish(fig, panel, handles, title, ncols=4)
