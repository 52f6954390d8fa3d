"""What happens over time inside and during training: the gate that keeps the state per
timestep (figure 5, `gate_dynamics`) and the loss per training step (figure 6,
`learning_curves`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

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
from rnnmem.reporting.labels import MEMORY_GATES, cell_label, ordered_cells, task_text
from rnnmem.reporting.seeds import range_band


@styled
def gate_dynamics(
    gates: pd.DataFrame, tasks: Sequence[str], title: str = "", notes: Sequence[str] = ()
) -> Figure:
    """Mean activation of the gate that keeps the state (LSTM forget gate f_t, GRU update gate
    z_t; 1 = keep) per timestep: a panel per task, after training solid (min-max band over
    seeds), at initialisation dotted; the dashed grey line is the loss anchor.

    `gates`: columns task, seq_len, anchor, cell, seed, stage, step, gate, t, value."""
    fig, panel, axes = paper_figure(WIDE, 2.8, notes, ncols=max(len(tasks), 1), squeeze=False)
    no_tasks(axes, tasks)
    drawn: list[str] = []
    banded = False
    for ax, task in zip(axes[0], tasks, strict=False):
        data = gates[gates["task"] == task]
        kept = [(cell, MEMORY_GATES[cell][0]) for cell in ordered_cells(data["cell"])
                if cell in MEMORY_GATES]
        if data.empty or not kept:
            no_data(ax, "no finished gated run\n(listed below)")
            ax.set_title(task)
            continue
        for cell, gate in kept:
            mine = data[(data["cell"] == cell) & (data["gate"] == gate)]
            banded |= seed_band(ax, range_band(mine[mine["stage"] == "trained"], "t", "value"),
                                cell_colour(cell), lw=1.4, label=f"{cell} {gate} trained")
            t, mean, *_ = range_band(mine[mine["stage"] == "init"], "t", "value")
            ax.plot(t, mean, color=cell_colour(cell), lw=1.0, ls=":", label=f"{cell} {gate} init")
            if cell not in drawn:
                drawn.append(cell)
        ax.axvline(int(data["anchor"].iloc[0]), color="0.5", ls="--", lw=0.9)
        ax.set_ylim(0, 1)
        ax.set_xlabel("timestep t")
        ax.set_ylabel("mean gate activation")
        ax.set_title(f"{task}, T = {int(data['seq_len'].iloc[0])}, "
                     f"after {int(data[data['stage'] == 'trained']['step'].max())} steps")
        ax.grid(True, which="major", alpha=0.3, lw=0.5)
    handles: list[object] = [
        Line2D([], [], color=cell_colour(c),
               label=f"{cell_label(c)} {MEMORY_GATES[c][1]} (1 = keep the state)")
        for c in ordered_cells(drawn)
    ]
    handles += [Line2D([], [], color="0.3", ls="-", label="after training"),
                Line2D([], [], color="0.3", ls=":", label="at initialisation"),
                Line2D([], [], color="0.5", ls="--", label="loss anchor")]
    handles += band_handles("min-max over seeds", banded)
    return finish(fig, panel, handles, title, ncols=3)


BASELINE_DASHES = ("--", "-.", (0, (1, 1)), (0, (5, 1, 1, 1, 1, 1)))


def baseline_dashes(names: Sequence[str]) -> dict[str, object]:
    """A line style per baseline name, in order of first appearance (BASELINE_DASHES, the
    last repeated where there are more names)."""
    order = list(dict.fromkeys(names))
    return {name: BASELINE_DASHES[min(k, len(BASELINE_DASHES) - 1)]
            for k, name in enumerate(order)}


@styled
def learning_curves(
    curves: pd.DataFrame,
    baselines: Mapping[str, Mapping[str, float]],
    tasks: Sequence[str],
    title: str = "",
    notes: Sequence[str] = (),
) -> Figure:
    """Loss against training step (log scale): a panel per task, a colour per cell; validation
    loss with markers (mean over seeds, min-max band), training loss thin; each of the task's
    memoryless baselines a grey line with its own dash, named in the legend by what its
    predictor ignores.

    `curves`: columns task, seq_len, cell, seed, split ('train' | 'val'), step, loss;
    `baselines[task]`: {name: loss} (`rnnmem.reporting.curves.memoryless_baselines`)."""
    fig, panel, axes = paper_figure(WIDE, 2.8, notes, ncols=max(len(tasks), 1), squeeze=False)
    no_tasks(axes, tasks)
    banded = False
    dashes = baseline_dashes([name for task in tasks for name in baselines.get(task, {})])
    for ax, task in zip(axes[0], tasks, strict=False):
        data = curves[curves["task"] == task]
        if data.empty:
            no_data(ax, "no finished run\n(listed below)")
            ax.set_title(task)
            continue
        for cell in ordered_cells(data["cell"]):
            colour = cell_colour(cell)
            mine = data[data["cell"] == cell]
            steps, mean, *_ = range_band(mine[mine["split"] == "train"], "step", "loss")
            ax.plot(steps, mean, color=colour, lw=0.8, alpha=0.55, label=f"{cell} train")
            banded |= seed_band(ax, range_band(mine[mine["split"] == "val"], "step", "loss"),
                                colour, lw=1.4, marker="o", ms=3, label=f"{cell} val")
        for name, value in baselines.get(task, {}).items():
            if math.isfinite(value):
                ax.axhline(value, color="0.3", ls=dashes[name], lw=1, label=name)
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel(f"loss: {task_text(task, 'loss_label', 'task loss')}")
        ax.set_title(f"{task}, T = {int(data['seq_len'].iloc[0])}")
        ax.grid(True, which="major", alpha=0.3, lw=0.5)
    handles: list[object] = cell_handles(ordered_cells(curves["cell"]))
    handles += [Line2D([], [], color="0.3", lw=1.4, marker="o", ms=3, label="validation"),
                Line2D([], [], color="0.3", lw=0.8, alpha=0.55, label="training")]
    handles += [Line2D([], [], color="0.3", ls=dash, lw=1, label=f"baseline: {name}")
                for name, dash in dashes.items()]
    handles += band_handles("min-max over seeds", banded)
    return finish(fig, panel, handles, title, ncols=4)
