"""The gradient figures: g_t = ||dL/dh_t|| against the distance from the loss with the input
sensitivity beside it (figure 1, `gradient_vanishing`), and g_t over training as a heatmap
per cell (figure 3, `gradient_flow`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from rnnmem.measures.probe import DIRECTIONS
from rnnmem.reporting.figures.drawing import (
    WIDE,
    band_handles,
    cell_colour,
    cell_handles,
    finish,
    no_data,
    no_tasks,
    paper_figure,
    seed_band,
    styled,
)
from rnnmem.reporting.labels import cell_label, ordered_cells
from rnnmem.reporting.seeds import log_band
from rnnmem.reporting.style import grad_heatmap

STAGES = (("init", "at initialisation"), ("trained", "after training"))
G_LABEL = r"$g_t = \Vert\partial L/\partial h_t\Vert$"


@styled
def gradient_vanishing(
    curves: pd.DataFrame, tasks: Sequence[str], title: str = "", notes: Sequence[str] = (),
    sensitivity: pd.DataFrame | None = None,
) -> Figure:
    """g_t against distance from the loss (log scale): a row of panels per task, at
    initialisation and after training; one colour per cell, forward direction solid, backward
    dashed; geometric mean over seeds with a +-1 std band (of log10 g) where there are several.
    A third panel per task: the input sensitivity s_t = ||dL/dx_t|| against timestep t, after
    training solid and at initialisation dotted (geometric mean over seeds, band after training).

    `curves`: columns task, seq_len, cell, seed, stage ('init' | 'trained'), step, direction,
    distance, g (see `rnnmem.reporting.curves.distance_curves`); `sensitivity`: columns task,
    seq_len, cell, seed, stage, step, t, s (see `sensitivity_curves` there); a task without
    rows gets empty panels saying so."""
    nrows = max(len(tasks), 1)
    fig, panel, axes = paper_figure(WIDE, 2.2 * nrows + 0.6, notes, nrows=nrows, ncols=3,
                                    squeeze=False)
    for row in range(nrows):
        axes[row, 1].sharey(axes[row, 0])
    no_tasks(axes, tasks)
    cells_drawn: set[str] = set()
    directions_drawn: set[str] = set()
    banded = sensitive = False
    for row, task in enumerate(tasks):
        data = curves[curves["task"] == task]
        length = f", T = {int(data['seq_len'].iloc[0])}" if len(data) else ""
        for col, (stage, stage_label) in enumerate(STAGES):
            ax = axes[row, col]
            part = data[data["stage"] == stage]
            if part.empty:
                no_data(ax, "no finished run\n(listed below)")
                ax.set_title(f"{task}{length}:\n{stage_label}")
                continue
            for cell in ordered_cells(part["cell"]):
                for direction in DIRECTIONS:
                    mine = part[(part["cell"] == cell) & (part["direction"] == direction)]
                    if mine.empty:
                        continue
                    banded |= seed_band(ax, log_band(mine, "distance", "g"), cell_colour(cell),
                                        lw=1.4, ls="-" if direction == "fwd" else "--",
                                        label=f"{cell} {direction}")
                    cells_drawn.add(cell)
                    directions_drawn.add(direction)
            ax.set_yscale("log")
            ax.set_title(f"{task}{length}:\n{stage_label} (step {int(part['step'].max())})")
            ax.set_xlabel("distance from the loss (steps)")
            ax.grid(True, which="major", alpha=0.3, lw=0.5)
        axes[row, 0].set_ylabel(G_LABEL)
        drawn = _sensitivity_panel(axes[row, 2], task, length, sensitivity)
        cells_drawn |= drawn
        sensitive = sensitive or bool(drawn)
    handles: list[object] = cell_handles(ordered_cells(cells_drawn))
    if sensitive:
        handles.append(Line2D([], [], color="0.3", ls=":", label="$s_t$ at initialisation"))
    if "bwd" in directions_drawn:
        handles += [Line2D([], [], color="0.3", ls="-", label="forward direction"),
                    Line2D([], [], color="0.3", ls="--", label="backward direction")]
    handles += band_handles("±1 std of log g over seeds", banded)
    return finish(fig, panel, handles, title, ncols=5)


def _sensitivity_panel(ax: object, task: str, length: str, sensitivity: pd.DataFrame | None
                       ) -> set[str]:
    """One task's s_t profile per cell (see `gradient_vanishing`): after training with its
    band, at initialisation dotted without one; the cells drawn."""
    data = sensitivity[sensitivity["task"] == task] if sensitivity is not None else None
    ax.set_title(f"{task}{length}:\ninput sensitivity")
    if data is None or data.empty:
        no_data(ax, "no input sensitivity\nin these records")
        return set()
    for cell in ordered_cells(data["cell"]):
        mine = data[data["cell"] == cell]
        seed_band(ax, log_band(mine[mine["stage"] == "trained"], "t", "s"), cell_colour(cell),
                  lw=1.4, ls="-", label=f"{cell} s trained")
        init = log_band(mine[mine["stage"] == "init"], "t", "s")
        ax.plot(init.x, init.centre, color=cell_colour(cell), lw=1.0, ls=":",
                label=f"{cell} s init")
    ax.set_yscale("log")
    ax.set_xlabel("timestep t")
    ax.set_ylabel(r"$s_t = \Vert\partial L/\partial x_t\Vert$")
    ax.grid(True, which="major", alpha=0.3, lw=0.5)
    return set(data["cell"])


@dataclass(frozen=True)
class GradMap:
    """One run's g_t over training: probe steps (P,), g (P, T), the loss anchor's timestep and
    what the panel title says of the run (e.g. 'T = 60, seed 0')."""

    steps: np.ndarray
    g: np.ndarray
    anchor: int
    label: str


@styled
def gradient_flow(
    maps: Mapping[tuple[str, str], GradMap | str],
    tasks: Sequence[str],
    cells: Sequence[str],
    title: str = "",
    notes: Sequence[str] = (),
) -> Figure:
    """Heatmaps of g_t, training step x timestep (log colour, one colour bar each): a row per
    task, a column per cell; the dashed white line is the loss anchor. `maps[(task, cell)]` is
    a GradMap or the reason there is none (shown in the panel)."""
    nrows, ncols = max(len(tasks), 1), max(len(cells), 1)
    fig, panel, axes = paper_figure(max(WIDE, 2.5 * ncols), 2.3 * nrows + 0.3, notes,
                                    nrows=nrows, ncols=ncols, squeeze=False)
    no_tasks(axes, tasks)
    for row, task in enumerate(tasks):
        for col, cell in enumerate(cells):
            ax = axes[row, col]
            item = maps.get((task, cell), "no run")
            if isinstance(item, str):
                no_data(ax, item)
                ax.set_title(f"{cell_label(cell)}, {task}")
                continue
            mesh = grad_heatmap(ax, item.steps, item.g, f"{cell_label(cell)}, {task}, {item.label}")
            ax.axvline(item.anchor, color="white", ls="--", lw=0.9)
            ax.xaxis.set_major_locator(MaxNLocator(6, integer=True))
            if len(item.steps) <= 8:
                ax.set_yticks(item.steps)
            else:
                ax.yaxis.set_major_locator(MaxNLocator(6, integer=True))
            panel.colorbar(mesh, ax=ax, label=r"$\Vert\partial L/\partial h_t\Vert$")
            if col:
                ax.set_ylabel("")
    return finish(fig, panel, [], title)
