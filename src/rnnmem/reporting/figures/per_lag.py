"""Memory per lag, the steps between an item and its nearest readout: the held-out forgetting
curve of each configuration at one T (figure 7, `forgetting`), item memory's probe view against
its end view (figure 8, `item_memory_views`), and item memory per lag from all three views
(figure 9, `item_memory_lags`). A panel whose series share one lag (copy with the fixed delay:
every symbol at T + 10) is a dot plot, each cell shifted beside the others (`drawing.dodge`)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from rnnmem.measures.item_memory import FRACTION
from rnnmem.reporting.curves import CONFIG_AXES, ROLES
from rnnmem.reporting.figures.drawing import (
    BAND_ALPHA,
    WIDE,
    band_handles,
    cell_colour,
    cell_handles,
    dodged_points,
    finish,
    interval_fill,
    metric_axis,
    no_data,
    no_tasks,
    paper_figure,
    seed_band,
    styled,
)
from rnnmem.reporting.labels import (
    cell_label,
    metric_spec,
    ordered_cells,
    variant_label,
    view_label,
)
from rnnmem.reporting.seeds import SeedBand, interval_band, range_band
from rnnmem.reporting.selection import select, variants

SPAN_TITLE_WIDTH = 48  # characters per line of a forgetting panel's memory spans
CAPACITY_WIDTH = 34  # characters per line of an item-memory panel's capacities
LAG_LABEL = "lag (steps from the item to its nearest readout)"
VARIANT_MARKERS = "osD^vP*X"  # one marker per (depth, direction) in figure 8


@styled
def forgetting(curves: pd.DataFrame, task: str, spans: Mapping[tuple[str, int, bool], int],
               title: str = "", notes: Sequence[str] = ()) -> Figure:
    """The held-out metric against lag (steps between the information and its nearest
    readout: a bidirectional adding net's backward readout at t = 0 is the nearer for early
    markers) at one T (never pooled over T: each T's items sit at their own lags): a panel per
    (depth, direction), rows by depth, one line per cell (mean over seeds, min-max band), or,
    where every cell has the same one lag, a dot plot with the cells side by side and min-max
    bars; the solved threshold dotted, the memoryless value dashed; each panel names every
    cell's memory span.

    `curves`: one task's and one T's rows of `rnnmem.reporting.curves.forgetting_curves`
    (columns cell, depth, bidirectional, seed, lag, value, count); `spans[(cell, depth,
    bidirectional)]`: the span of the mean curve (`rnnmem.reporting.curves.pooled_span`)."""
    spec = metric_spec(task, curves)
    combos = variants(curves) or [(1, False)]
    depths = sorted({d for d, _ in combos})
    directions = sorted({b for _, b in combos})
    fig, panel, axes = paper_figure(WIDE, 2.3 * len(depths) + 0.5, notes, nrows=len(depths),
                                    ncols=len(directions), squeeze=False, sharey=True)
    banded = dotted = False
    for row, depth in enumerate(depths):
        for col, bidirectional in enumerate(directions):
            ax = axes[row, col]
            ax.set_title(variant_label(depth, bidirectional))
            mine = select(curves, depth=depth, bidirectional=bidirectional)
            if mine.empty:
                no_data(ax, "no finished run\n(listed below)")
                continue
            cells = ordered_cells(mine["cell"])
            bands = [range_band(select(mine, cell=cell), "lag", "value") for cell in cells]
            if one_lag(bands):
                dodged_points(ax, [(band, cell_colour(cell), cell_label(cell))
                                   for band, cell in zip(bands, cells, strict=True)])
                dotted = True
            else:
                for band, cell in zip(bands, cells, strict=True):
                    banded |= seed_band(ax, band, cell_colour(cell), lw=1.4, marker="o",
                                        ms=2.5, label=cell_label(cell))
                ax.xaxis.set_major_locator(MaxNLocator(8, integer=True))
            span_text = [f"{cell_label(cell)} {spans[(cell, depth, bidirectional)]}"
                         for cell in cells]
            # wrapped: four cells' spans on one line run into the next panel's title
            ax.set_title("\n".join([variant_label(depth, bidirectional), *textwrap.wrap(
                "memory span: " + ", ".join(span_text), SPAN_TITLE_WIDTH)]))
            metric_axis(ax, spec, linear_limits=(-0.05, 1.05))
            ax.set_xlabel(LAG_LABEL)
            ax.grid(True, which="major", alpha=0.3, lw=0.5)
        axes[row, 0].set_ylabel(f"{spec.label} (held-out)")
    handles: list[object] = cell_handles(ordered_cells(curves["cell"]), marker="o")
    handles += [Line2D([], [], color="0.3", ls=":", label="solved threshold"),
                Line2D([], [], color="0.3", ls="--", label=spec.baseline_label or "baseline")]
    handles += band_handles("min-max over seeds", banded)
    if dotted:
        handles.append(Line2D([], [], color="0.3", marker="o", ms=4, ls="none",
                              label="one lag: cells side by side, bar min-max over seeds"))
    return finish(fig, panel, handles, title, ncols=3)


def one_lag(bands: Sequence[SeedBand]) -> bool:
    """Whether every band sits at one and the same lag (a dot plot, not lines)."""
    return len({float(x) for band in bands for x in band.x}) == 1


@styled
def item_memory_views(points: pd.DataFrame, tasks: Sequence[str],
                      correlations: Mapping[str, float], title: str = "",
                      notes: Sequence[str] = ()) -> Figure:
    """Item memory per lag after training, the probe view (x: adding's gradient, a derivative
    at the last probe; copy's probability) against the end view (y: adding's intervention,
    copy's choice, at the end), both on the same stratified item set: a panel per task, one
    point per (run, lag), colour per cell, marker per (depth, direction), the diagonal where
    the views agree; each axis names its view, each title Pearson's correlation over the
    panel's points (`correlations[task]`), their number and the runs behind them.

    `points`: `rnnmem.reporting.curves.item_memory_points` rows."""
    ncols = max(len(tasks), 1)
    fig, panel, axes = paper_figure(WIDE, 3.9, notes, nrows=1, ncols=ncols, squeeze=False)
    no_tasks(axes, tasks)
    combos = variants(points)
    markers = dict(zip(combos, VARIANT_MARKERS, strict=False))
    for col, task in enumerate(tasks):
        ax = axes[0, col]
        rho = correlations.get(task, math.nan)
        rho_text = f"r = {rho:+.2f}" if math.isfinite(rho) else "r n/a"
        data = points[points["task"] == task]
        runs = len(data.drop_duplicates([*CONFIG_AXES, "seq_len", "seed"]))
        ax.set_title(f"{task}: {rho_text}; {len(data)} points,\none per (run, lag), "
                     f"from {runs} runs")
        ax.plot([0, 1], [0, 1], color="0.5", ls="--", lw=0.8)
        if data.empty:
            no_data(ax, "no item memory\n(listed below)")
            continue
        for cell in ordered_cells(data["cell"]):
            for depth, bidirectional in combos:
                mine = select(data, cell=cell, depth=depth, bidirectional=bidirectional)
                if not mine.empty:
                    ax.scatter(mine["probe"], mine["end"], s=10, alpha=0.6,
                               marker=markers[(depth, bidirectional)], color=cell_colour(cell),
                               linewidths=0)
        ax.set_xlabel(view_label(str(data["probe_view"].iloc[0]), task, "last probe"))
        ax.set_ylabel(view_label(str(data["end_view"].iloc[0]), task, "end"))
        ax.grid(True, which="major", alpha=0.3, lw=0.5)
    handles: list[object] = cell_handles(ordered_cells(points["cell"]))
    handles += [Line2D([], [], color="0.3", ls="none", marker=markers[c],
                       label=variant_label(*c)) for c in combos]
    handles.append(Line2D([], [], color="0.5", ls="--", label="views agree"))
    return finish(fig, panel, handles, title, ncols=4)


@styled
def item_memory_lags(curves: pd.DataFrame, summaries: pd.DataFrame, task: str,
                     title: str = "", notes: Sequence[str] = ()) -> Figure:
    """Item memory per lag after training from each view, one configuration's (depth,
    direction): a column per view (probe, end, storage: ROLES), a row per T, one line per cell
    (mean over seeds) with its band from the lowest seed's 95% interval to the highest's
    (`rnnmem.reporting.seeds.interval_band`), or where the panel has one lag a dot plot with
    the cells side by side; dashed: half of perfect memory, the span's line. Each title names
    the view and T and gives each cell's capacity (`capacity_text`).

    `curves`: one task's and one (depth, direction)'s rows of
    `rnnmem.reporting.curves.item_memory_curves` (measured lags are drawn); `summaries`: the
    same configurations' `rnnmem.reporting.item_views.view_summaries` rows."""
    if curves.empty:
        fig, panel, axes = paper_figure(WIDE, 2.5, notes, squeeze=False)
        no_data(axes[0, 0], "no finished run with item memory\n(listed below)")
        return finish(fig, panel, [], title)
    lengths = sorted({int(t) for t in curves["seq_len"]})
    roles = [role for role in ROLES if (curves["role"] == role).any()]
    fig, panel, axes = paper_figure(WIDE, 2.35 * len(lengths) + 0.6, notes,
                                    nrows=len(lengths), ncols=len(roles), squeeze=False,
                                    sharey="row")
    cells = ordered_cells(curves["cell"])
    dotted = False  # some panel is a dot plot: its intervals are bars
    for row, length in enumerate(lengths):
        ends: list[float] = []  # the row's band ends: its panels share one y axis
        for col, role in enumerate(roles):
            ax = axes[row, col]
            mine = curves[(curves["seq_len"] == length) & (curves["role"] == role)
                          & curves["measured"]]
            if mine.empty:
                ax.set_title(f"T = {length}: {role} view")
                no_data(ax, "no measured lag\n(listed below)")
                continue
            view = str(mine["view"].iloc[0])
            present = [cell for cell in cells if (mine["cell"] == cell).any()]
            bands = [interval_band(mine[mine["cell"] == cell], "lag", "memory")
                     for cell in present]
            if one_lag(bands):
                dodged_points(ax, [(band, cell_colour(cell), cell_label(cell))
                                   for band, cell in zip(bands, present, strict=True)])
                dotted = True
            else:
                for band, cell in zip(bands, present, strict=True):
                    interval_fill(ax, band, cell_colour(cell), lw=1.3, label=cell_label(cell))
                ax.xaxis.set_major_locator(MaxNLocator(6, integer=True))
            ax.axhline(FRACTION, color="0.4", ls="--", lw=0.9)
            ax.axhline(0, color="0.6", ls=":", lw=0.8)
            ends += [float(np.nanmin(band.low)) for band in bands if len(band.x)]
            ends += [float(np.nanmax(band.high)) for band in bands if len(band.x)]
            name = view if view == "storage" else f"{view} view"
            ax.set_title(f"T = {length}: {name}\n" + capacity_text(
                summaries[(summaries["seq_len"] == length) & (summaries["role"] == role)]),
                fontsize=8)
            ax.grid(True, which="major", alpha=0.3, lw=0.5)
        axes[row, 0].set_ylabel("memory (1 = perfect)")
        axes[row, 0].set_ylim(*memory_limits(ends))
    axes[-1, len(roles) // 2].set_xlabel(LAG_LABEL)
    handles: list[object] = cell_handles(cells)
    handles += [Patch(color="0.3", alpha=BAND_ALPHA, lw=0,
                      label="seeds' 95% intervals, joined" + (" (bar)" if dotted else "")),
                Line2D([], [], color="0.4", ls="--", label="half of perfect: the span's line")]
    return finish(fig, panel, handles, title, ncols=3)


def memory_limits(ends: Sequence[float]) -> tuple[float, float]:
    """A memory axis: [0, 1] with a margin, widened to the bands' ends (`ends`) but never
    beyond [-0.5, 1.5] (a cross-validated R^2 far below 0 would squash the rest)."""
    finite = [e for e in ends if math.isfinite(e)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    return max(-0.5, min(-0.05, low - 0.02)), min(1.5, max(1.05, high + 0.02))


def capacity_text(summaries: pd.DataFrame) -> str:
    """A panel's capacities, wrapped: 'capacity of 30 lags: rnn 0.4, lstm 28.1, ...' (mean over
    seeds, in lags, one decimal; two where the panel has one lag, whose capacity is its memory;
    the measured lags named once where every cell has the same; cells by their short names,
    which the legend pairs with their colours)."""
    measured = {int(m) for m in summaries["measured_lags"]}
    count = measured.pop() if len(measured) == 1 else None
    digits = 2 if count == 1 else 1
    parts = []
    for cell in ordered_cells(summaries["cell"]):
        value = summaries[summaries["cell"] == cell]["capacity"].iloc[0]
        parts.append(f"{cell} {value:.{digits}f}" if math.isfinite(value) else f"{cell} n/a")
    lags = "" if count is None else f" of {count} lag" + ("s" if count != 1 else "")
    return "\n".join(textwrap.wrap(f"capacity{lags}: " + ", ".join(parts), CAPACITY_WIDTH))
