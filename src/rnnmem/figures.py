"""The plotting of the paper figures in experiments/ (the analysis is `rnnmem.analysis`).

Every figure is a pure function of records (arrays, DataFrames): same records in, same bytes
out. `save` fixes what would otherwise vary between runs (PDF creation dates, SVG hash salt,
PNG software tag), and every grouping below is sorted, so the drawing order is fixed too.

The paper figures read the rows of `rnnmem.analysis.sweep_runs`: one per grid point of a
sweep, with status finished, diverged, failed or missing (no record). Only finished runs are
drawn; the others are marked in the plot where a point or panel has no data, and listed under
it (`gap_notes`), so a gap is never silent.
Over seeds: the conventions of `rnnmem.analysis` (mean and min-max band of metrics, geometric
mean and +-1 std of log10 g for gradient norms, solved by the majority of completed seeds).
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap, Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullLocator, ScalarFormatter  # noqa: E402

from rnnmem.analysis import (  # noqa: E402
    MetricSpec,
    cell_label,
    finished,
    log_band,
    memory_headline,
    metric_spec,
    ordered_cells,
    param_counts,
    range_band,
    recorded_task,
    select,
    solved_by_majority,
    star,
    task_text,
    tasks_of,
    variant_label,
    variants,
    why_empty,
)
from rnnmem.models import CELLS  # noqa: E402
from rnnmem.probe import DIRECTIONS  # noqa: E402
from rnnmem.run_images import STYLE, grad_heatmap  # noqa: E402

CELL_COLOURS = {"rnn": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c"}
# registered cells beyond those three, in registry order (tab10, its grey left for the unknown)
SPARE_COLOURS = ("#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
OTHER_COLOUR = "#7f7f7f"
STAGES = (("init", "at initialisation"), ("trained", "after training"))
# The gate that decides how much of the previous state survives a step (1 = keep it all).
MEMORY_GATES = {"lstm": ("forget", "forget gate $f_t$"), "gru": ("update", "update gate $z_t$")}
G_LABEL = r"$g_t = \Vert\partial L/\partial h_t\Vert$"
WIDE = 6.75  # inches: a two-column paper figure
NOTE_FONT = 8
SPAN_TITLE_WIDTH = 48  # characters per line of a forgetting panel's memory spans
NOTE_MAX_LINES = 8
NOTE_LINE_INCHES = 0.155


def new_figure(
    width: float = 6.0, height: float = 3.0, **subplots: object
) -> tuple[Figure, object]:
    """A figure in the paper style; `subplots` go to Figure.subplots."""
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(**subplots)
    return fig, axes


def save(fig: Figure, path_stem: Path, formats: tuple[str, ...] = ("pdf", "png")) -> list[Path]:
    """Write `path_stem.<fmt>` for each format with fixed metadata, so bytes are reproducible.

    The layout is computed for the first format and kept for the others (same positions in
    every format, and half the layout work)."""
    metadata = {
        "pdf": {"CreationDate": None, "ModDate": None, "Producer": "rnnmem", "Creator": "rnnmem"},
        "png": {"Software": "rnnmem"},
        "svg": {"Date": None, "Creator": "rnnmem"},
    }
    paths = []
    with plt.rc_context(STYLE):
        for fmt in formats:
            path = Path(f"{path_stem}.{fmt}")
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, format=fmt, metadata=metadata[fmt])
            paths.append(path)
            fig.set_layout_engine("none")
    return paths


def close(fig: Figure) -> None:
    plt.close(fig)


def cell_colour(cell: str) -> str:
    """The paper's three cells keep their colours; other registered cells take the spare ones
    in registry order; an unregistered name is grey."""
    if cell in CELL_COLOURS:
        return CELL_COLOURS[cell]
    others = [name for name in CELLS if name not in CELL_COLOURS]
    if cell in others and others.index(cell) < len(SPARE_COLOURS):
        return SPARE_COLOURS[others.index(cell)]
    return OTHER_COLOUR


# --- Drawing helpers ---------------------------------------------------------------------------


def _styled(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Draw inside the paper style, so legends, texts and lines take its sizes."""

    @functools.wraps(draw)
    def styled(*args: Any, **kwargs: Any) -> Figure:
        with plt.rc_context(STYLE):
            return draw(*args, **kwargs)

    return styled


def _paper_figure(
    width: float, height: float, notes: Sequence[str], **subplots: object
) -> tuple[Figure, Any, Any]:
    """A figure whose panels (and legend, title, colour bars) live in `panel`, with `notes`
    listed in a strip below them: (figure, panel, axes). Without notes, panel is the figure."""
    lines = list(notes)
    if len(lines) > NOTE_MAX_LINES:
        hidden = len(lines) - NOTE_MAX_LINES + 1
        lines = lines[: NOTE_MAX_LINES - 1] + [f"… and {hidden} more lines: see report.md"]
    if not lines:
        fig, axes = new_figure(width, height, **subplots)
        return fig, fig, axes
    extra = NOTE_LINE_INCHES * len(lines) + 0.12
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(width, height + extra), layout="constrained")
        panel, foot = fig.subfigures(2, 1, height_ratios=[height, extra])
        axes = panel.subplots(**subplots)
    foot.text(0.01, 1.0, "\n".join(lines), ha="left", va="top", fontsize=NOTE_FONT, color="0.25",
              parse_math=False, linespacing=1.25)
    return fig, panel, axes


def _no_tasks(axes: Any, tasks: Sequence[str]) -> None:
    """Say so in the first panel when there is no task to draw at all."""
    if not tasks:
        _no_data(axes.flat[0], "no run with a known configuration\n(listed below)")


def _no_data(ax: object, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            fontsize=NOTE_FONT, color="0.35", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _metric_axis(ax: Any, spec: MetricSpec, linear_limits: tuple[float, float]) -> None:
    """A task metric's y axis: the memoryless baseline dashed, the solved threshold dotted,
    log scale where the task asks for it, else `linear_limits`."""
    if math.isfinite(spec.baseline):
        ax.axhline(spec.baseline, color="0.3", ls="--", lw=1)
    if math.isfinite(spec.threshold):
        ax.axhline(spec.threshold, color="0.3", ls=":", lw=1)
    if spec.log:
        ax.set_yscale("log")
    else:
        ax.set_ylim(*linear_limits)


def _finish(fig: Figure, panel: Any, handles: list[object], title: str, ncols: int,
            band: str | None = None) -> Figure:
    """The legend below the panels (with the seeds' band, if one was drawn), and the title."""
    if band is not None:
        handles.append(Patch(color="0.3", alpha=0.18, lw=0, label=band))
    _legend_below(panel, handles, ncols=ncols)
    if title:
        panel.suptitle(title)
    return fig


def _legend_below(panel: Any, handles: Sequence[object], ncols: int = 4) -> None:
    if handles:
        panel.legend(handles=list(handles), loc="outside lower center", ncols=ncols,
                     frameon=False)


def _cell_handles(cells: Sequence[str], marker: str | None = None,
                  runs: pd.DataFrame | None = None) -> list[Line2D]:
    """One legend entry per cell; with `runs`, its parameter count too ('LSTM, 4.6K params')."""
    def label(cell: str) -> str:
        counts = param_counts(runs, cell) if runs is not None else ""
        return f"{cell_label(cell)}, {counts} params" if counts else cell_label(cell)

    return [Line2D([], [], color=cell_colour(c), marker=marker, label=label(c)) for c in cells]


def _length_axis(ax: object, lengths: Sequence[int], task: str) -> None:
    ax.set_xscale("log")
    ax.set_xticks(sorted(lengths))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(task_text(task, "length_label", "T (steps)"))


# --- The paper figures -------------------------------------------------------------------------


@_styled
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
    distance, g (see `distance_curves`); `sensitivity`: columns task, seq_len, cell, seed,
    stage, step, t, s (see `sensitivity_curves`); a task without rows gets empty panels saying
    so."""
    nrows = max(len(tasks), 1)
    fig, panel, axes = _paper_figure(WIDE, 2.2 * nrows + 0.6, notes, nrows=nrows, ncols=3,
                                     squeeze=False)
    for row in range(nrows):
        axes[row, 1].sharey(axes[row, 0])
    _no_tasks(axes, tasks)
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
                _no_data(ax, "no finished run\n(listed below)")
                ax.set_title(f"{task}{length}:\n{stage_label}")
                continue
            for cell in ordered_cells(part["cell"]):
                for direction in DIRECTIONS:
                    mine = part[(part["cell"] == cell) & (part["direction"] == direction)]
                    if mine.empty:
                        continue
                    d, centre, low, high, count = log_band(mine, "distance", "g")
                    ax.plot(d, centre, color=cell_colour(cell), lw=1.4,
                            ls="-" if direction == "fwd" else "--", label=f"{cell} {direction}")
                    if count.max() > 1:
                        ax.fill_between(d, low, high, color=cell_colour(cell), alpha=0.18, lw=0)
                        banded = True
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
    handles: list[object] = _cell_handles(ordered_cells(cells_drawn))
    if sensitive:
        handles.append(Line2D([], [], color="0.3", ls=":", label="$s_t$ at initialisation"))
    if "bwd" in directions_drawn:
        handles += [Line2D([], [], color="0.3", ls="-", label="forward direction"),
                    Line2D([], [], color="0.3", ls="--", label="backward direction")]
    return _finish(fig, panel, handles, title, ncols=5,
                   band="±1 std of log g over seeds" if banded else None)


def _sensitivity_panel(ax: object, task: str, length: str, sensitivity: pd.DataFrame | None
                       ) -> set[str]:
    """One task's s_t profile per cell (see `gradient_vanishing`); the cells drawn."""
    data = sensitivity[sensitivity["task"] == task] if sensitivity is not None else None
    ax.set_title(f"{task}{length}:\ninput sensitivity")
    if data is None or data.empty:
        _no_data(ax, "no input sensitivity\nin these records")
        return set()
    for cell in ordered_cells(data["cell"]):
        mine = data[data["cell"] == cell]
        for stage, style in (("trained", "-"), ("init", ":")):
            t, centre, low, high, count = log_band(mine[mine["stage"] == stage], "t", "s")
            ax.plot(t, centre, color=cell_colour(cell), lw=1.4 if stage == "trained" else 1.0,
                    ls=style, label=f"{cell} s {stage}")
            if stage == "trained" and count.max(initial=0) > 1:
                ax.fill_between(t, low, high, color=cell_colour(cell), alpha=0.18, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("timestep t")
    ax.set_ylabel(r"$s_t = \Vert\partial L/\partial x_t\Vert$")
    ax.grid(True, which="major", alpha=0.3, lw=0.5)
    return set(data["cell"])


@_styled
def memory_capacity(runs: pd.DataFrame, title: str = "", notes: Sequence[str] = ()) -> Figure:
    """Final held-out metric against length T: a panel per task, one line per cell (mean over
    finished seeds, min-max band), the memoryless baseline dashed, the solved threshold dotted,
    filled markers where the configuration is solved, x at the foot where no run finished.

    `runs`: the rows of one (depth, direction), any status; columns task, cell, seq_len, seed,
    status, solved and each task's metric column (`METRICS`)."""
    tasks = tasks_of(runs)
    fig, panel, axes = _paper_figure(WIDE, 2.9, notes, ncols=max(len(tasks), 1), squeeze=False)
    _no_tasks(axes, tasks)
    no_run = banded = False
    for ax, task in zip(axes[0], tasks, strict=False):
        spec = metric_spec(task, runs)
        rows = runs[runs["task"] == task]
        lengths = sorted({int(t) for t in rows["seq_len"].dropna()})
        for cell in ordered_cells(rows["cell"]):
            mine = rows[rows["cell"] == cell]
            x, mean, low, high, count = range_band(finished(mine), "seq_len", spec.column)
            colour = cell_colour(cell)
            ax.plot(x, mean, color=colour, lw=1.4, label=cell_label(cell))
            if len(count) and count.max() > 1:
                ax.fill_between(x, low, high, color=colour, alpha=0.18, lw=0)
                banded = True
            solved = np.array([solved_by_majority(mine[mine["seq_len"] == t]) for t in x], bool)
            ax.scatter(x, mean, s=22, zorder=3, edgecolors=colour, linewidths=1.2,
                       facecolors=[colour if s else "white" for s in solved])
            empty = sorted({int(t) for t in mine["seq_len"].dropna()} - {int(t) for t in x})
            if empty:
                no_run = True
                ax.plot(empty, [0.03] * len(empty), ls="none", marker="x", color=colour, ms=6,
                        clip_on=False, transform=ax.get_xaxis_transform())
        _metric_axis(ax, spec, linear_limits=(-0.1, 1.04))
        _length_axis(ax, lengths, task)
        ax.set_ylabel(f"{spec.label} (held-out)")
        ax.set_title(task)
        ax.grid(True, which="major", alpha=0.3, lw=0.5)
    handles: list[object] = _cell_handles(ordered_cells(runs["cell"]), runs=runs)
    references = [label for label in dict.fromkeys(  # one entry per distinct label
        metric_spec(t, runs).baseline_label for t in tasks) if label]
    handles += [Line2D([], [], color="0.3", ls="--", label=label) for label in references]
    handles += [
        Line2D([], [], color="0.3", ls=":", label="solved threshold"),
        Line2D([], [], color="0.3", ls="none", marker="o", label="solved"),
        Line2D([], [], color="0.3", ls="none", marker="o", markerfacecolor="white",
               label="not solved"),
    ]
    if banded:
        handles.append(Patch(color="0.3", alpha=0.18, lw=0, label="min-max over seeds"))
    if no_run:
        handles.append(Line2D([], [], color="0.3", ls="none", marker="x",
                              label="no finished run (listed below)"))
    _legend_below(panel, handles, ncols=4)
    if title:
        panel.suptitle(title)
    return fig


@dataclass(frozen=True)
class GradMap:
    """One run's g_t over training: probe steps (P,), g (P, T), the loss anchor's timestep and
    what the panel title says of the run (e.g. 'T = 60, seed 0')."""

    steps: np.ndarray
    g: np.ndarray
    anchor: int
    label: str


@_styled
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
    fig, panel, axes = _paper_figure(max(WIDE, 2.5 * ncols), 2.3 * nrows + 0.3, notes,
                                     nrows=nrows, ncols=ncols, squeeze=False)
    _no_tasks(axes, tasks)
    for row, task in enumerate(tasks):
        for col, cell in enumerate(cells):
            ax = axes[row, col]
            item = maps.get((task, cell), "no run")
            if isinstance(item, str):
                _no_data(ax, item)
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
    if title:
        panel.suptitle(title)
    return fig


@_styled
def depth_direction(runs: pd.DataFrame, title: str = "", notes: Sequence[str] = ()) -> Figure:
    """Cell x (depth, direction) grids per task: the memory headline (`intervention_span`, the
    item-memory span in steps; `memory_coverage` or `memory_horizon` for records that predate
    it) at the task's longest T (mean +- std over finished seeds) and the longest T solved. A
    grid point without a finished run says why (failed, diverged, missing); 'none': nothing
    solved; '*': some of its runs did not finish (they are listed under the figure).

    `runs`: every row of the sweep; columns task, cell, depth, bidirectional, seq_len, status,
    solved, memory_coverage or memory_horizon."""
    tasks, cells, combos = tasks_of(runs), ordered_cells(runs["cell"]), variants(runs)
    column, label = memory_headline(runs)
    digits = 2 if column == "memory_coverage" else 1
    nrows = 2 * max(len(tasks), 1)
    height = (0.3 * max(len(cells), 1) + 0.75) * nrows + 0.3
    fig, panel, axes = _paper_figure(WIDE, height, notes, nrows=nrows, ncols=1, squeeze=False)
    _no_tasks(axes, tasks)
    labels = [variant_label(d, b).replace("directional", "dir.") for d, b in combos]
    for row, task in enumerate(tasks):
        rows = runs[runs["task"] == task]
        lengths = sorted({int(t) for t in rows["seq_len"].dropna()})
        if not lengths:
            continue
        longest = lengths[-1]
        horizon = np.full((len(cells), len(combos)), np.nan)
        solved_index = np.full((len(cells), len(combos)), np.nan)
        horizon_text = [[""] * len(combos) for _ in cells]
        solved_text = [[""] * len(combos) for _ in cells]
        for i, cell in enumerate(cells):
            for j, (depth, bidirectional) in enumerate(combos):
                config = select(rows, cell=cell, depth=depth, bidirectional=bidirectional)
                at_longest = select(config, seq_len=longest)
                values = finished(at_longest)[column].to_numpy(dtype=float)
                values = values[np.isfinite(values)]
                if len(values):
                    horizon[i, j] = values.mean()
                    text = (f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"
                            if len(values) > 1 else f"{values[0]:.{digits}f}")
                    horizon_text[i][j] = text + star(at_longest)
                else:
                    horizon_text[i][j] = why_empty(at_longest)
                completed = config[config["status"].isin(("finished", "diverged"))]
                if completed.empty:
                    solved_text[i][j] = why_empty(config)
                    continue
                solved = [t for t in lengths if solved_by_majority(select(config, seq_len=t))]
                solved_index[i, j] = lengths.index(solved[-1]) + 1 if solved else 0
                solved_text[i][j] = (str(solved[-1]) if solved else "none") + star(config)
        ax_h, ax_s = axes[2 * row, 0], axes[2 * row + 1, 0]
        if column == "memory_coverage":
            image = _grid(ax_h, horizon, horizon_text, "viridis", Normalize(0, 1))
            panel.colorbar(image, ax=ax_h, label="coverage", aspect=10)
            ax_h.set_title(f"{task}: memory coverage after training, at T = {longest}")
        else:
            reach = recorded_task(runs, task, longest).loss_anchor  # the largest distance
            top = max(reach, np.nanmax(horizon) if np.isfinite(horizon).any() else 1.0)
            image = _grid(ax_h, horizon, horizon_text, "viridis", Normalize(0, top))
            name = label.split(" (")[0]
            bar = panel.colorbar(image, ax=ax_h, label=f"{name.split()[-1]} (steps)", aspect=10)
            bar.ax.yaxis.set_major_locator(MaxNLocator(5, integer=True))
            ax_h.set_title(f"{task}: {name} after training, at T = {longest} "
                           f"(at most {reach})")
        colours = ListedColormap(["#d9d9d9"] + list(plt.get_cmap("YlGnBu")(
            np.linspace(0.3, 0.95, len(lengths)))))
        bounds = np.arange(len(lengths) + 2) - 0.5
        image = _grid(ax_s, solved_index, solved_text, colours, BoundaryNorm(bounds, colours.N))
        bar = panel.colorbar(image, ax=ax_s, label="T (steps)", aspect=10,
                             ticks=np.arange(len(lengths) + 1))
        bar.ax.set_yticklabels(["none"] + [str(t) for t in lengths])
        bar.ax.minorticks_off()
        length_name = task_text(task, "length_label", "T").split(" (")[0]
        ax_s.set_title(f"{task}: longest {length_name} solved")
        for ax in (ax_h, ax_s):
            ax.set_xticks(range(len(combos)), labels)
            ax.set_yticks(range(len(cells)), [cell_label(c) for c in cells])
            ax.tick_params(length=0)
    if title:
        panel.suptitle(title)
    return fig


def _grid(ax: object, values: np.ndarray, text: list[list[str]], cmap: object,
          norm: Normalize) -> object:
    """An annotated cell grid; NaN cells grey with their text (the reason) in italics."""
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


@_styled
def gate_dynamics(
    gates: pd.DataFrame, tasks: Sequence[str], title: str = "", notes: Sequence[str] = ()
) -> Figure:
    """Mean activation of the gate that keeps the state (LSTM forget gate f_t, GRU update gate
    z_t; 1 = keep) per timestep: a panel per task, after training solid (min-max band over
    seeds), at initialisation dotted; the dashed grey line is the loss anchor.

    `gates`: columns task, seq_len, anchor, cell, seed, stage, step, gate, t, value."""
    fig, panel, axes = _paper_figure(WIDE, 2.8, notes, ncols=max(len(tasks), 1), squeeze=False)
    _no_tasks(axes, tasks)
    drawn: list[str] = []
    banded = False
    for ax, task in zip(axes[0], tasks, strict=False):
        data = gates[gates["task"] == task]
        kept = [(cell, MEMORY_GATES[cell][0]) for cell in ordered_cells(data["cell"])
                if cell in MEMORY_GATES]
        if data.empty or not kept:
            _no_data(ax, "no finished gated run\n(listed below)")
            ax.set_title(task)
            continue
        for cell, gate in kept:
            mine = data[(data["cell"] == cell) & (data["gate"] == gate)]
            trained = mine[mine["stage"] == "trained"]
            t, mean, low, high, count = range_band(trained, "t", "value")
            ax.plot(t, mean, color=cell_colour(cell), lw=1.4, label=f"{cell} {gate} trained")
            if len(count) and count.max() > 1:
                ax.fill_between(t, low, high, color=cell_colour(cell), alpha=0.18, lw=0)
                banded = True
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
    return _finish(fig, panel, handles, title, ncols=3,
                   band="min-max over seeds" if banded else None)


@_styled
def learning_curves(
    curves: pd.DataFrame,
    baselines: Mapping[str, float],
    tasks: Sequence[str],
    title: str = "",
    notes: Sequence[str] = (),
) -> Figure:
    """Loss against training step (log scale): a panel per task, a colour per cell; validation
    loss with markers (mean over seeds, min-max band), training loss thin; the task's
    memoryless baseline dashed.

    `curves`: columns task, seq_len, cell, seed, split ('train' | 'val'), step, loss."""
    fig, panel, axes = _paper_figure(WIDE, 2.8, notes, ncols=max(len(tasks), 1), squeeze=False)
    _no_tasks(axes, tasks)
    banded = False
    for ax, task in zip(axes[0], tasks, strict=False):
        data = curves[curves["task"] == task]
        if data.empty:
            _no_data(ax, "no finished run\n(listed below)")
            ax.set_title(task)
            continue
        for cell in ordered_cells(data["cell"]):
            colour = cell_colour(cell)
            mine = data[data["cell"] == cell]
            steps, mean, *_ = range_band(mine[mine["split"] == "train"], "step", "loss")
            ax.plot(steps, mean, color=colour, lw=0.8, alpha=0.55, label=f"{cell} train")
            steps, mean, low, high, count = range_band(mine[mine["split"] == "val"], "step",
                                                        "loss")
            ax.plot(steps, mean, color=colour, lw=1.4, marker="o", ms=3, label=f"{cell} val")
            if len(count) and count.max() > 1:
                ax.fill_between(steps, low, high, color=colour, alpha=0.18, lw=0)
                banded = True
        if math.isfinite(baselines.get(task, math.nan)):
            ax.axhline(baselines[task], color="0.3", ls="--", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel(f"loss: {task_text(task, 'loss_label', 'task loss')}")
        ax.set_title(f"{task}, T = {int(data['seq_len'].iloc[0])}")
        ax.grid(True, which="major", alpha=0.3, lw=0.5)
    handles: list[object] = _cell_handles(ordered_cells(curves["cell"]))
    handles += [Line2D([], [], color="0.3", lw=1.4, marker="o", ms=3, label="validation"),
                Line2D([], [], color="0.3", lw=0.8, alpha=0.55, label="training"),
                Line2D([], [], color="0.3", ls="--", lw=1, label="memoryless baseline")]
    return _finish(fig, panel, handles, title, ncols=4,
                   band="min-max over seeds" if banded else None)


@_styled
def forgetting(curves: pd.DataFrame, task: str, spans: Mapping[tuple[str, int, bool], int],
               title: str = "", notes: Sequence[str] = ()) -> Figure:
    """The held-out metric against lag (steps between the information and the readout) at one
    T (never pooled over T: each T's items sit at their own lags): a panel per (depth,
    direction), rows by depth, one line per cell (mean over seeds, min-max band), the solved
    threshold dotted, the memoryless value dashed; each panel names every cell's memory span.

    `curves`: one task's and one T's rows of `analysis.forgetting_curves` (columns cell, depth,
    bidirectional, seed, lag, value, count); `spans[(cell, depth, bidirectional)]`: the span of
    the mean curve (`analysis.pooled_span`)."""
    spec = metric_spec(task, curves)
    combos = variants(curves) or [(1, False)]
    depths = sorted({d for d, _ in combos})
    directions = sorted({b for _, b in combos})
    fig, panel, axes = _paper_figure(WIDE, 2.3 * len(depths) + 0.5, notes, nrows=len(depths),
                                     ncols=len(directions), squeeze=False, sharey=True)
    banded = False
    for row, depth in enumerate(depths):
        for col, bidirectional in enumerate(directions):
            ax = axes[row, col]
            ax.set_title(variant_label(depth, bidirectional))
            mine = select(curves, depth=depth, bidirectional=bidirectional)
            if mine.empty:
                _no_data(ax, "no finished run\n(listed below)")
                continue
            span_text = []
            for cell in ordered_cells(mine["cell"]):
                lags, mean, low, high, count = range_band(select(mine, cell=cell), "lag",
                                                          "value")
                ax.plot(lags, mean, color=cell_colour(cell), lw=1.4, marker="o", ms=2.5,
                        label=cell_label(cell))
                if len(count) and count.max() > 1:
                    ax.fill_between(lags, low, high, color=cell_colour(cell), alpha=0.18, lw=0)
                    banded = True
                span_text.append(f"{cell_label(cell)} {spans[(cell, depth, bidirectional)]}")
            # wrapped: four cells' spans on one line run into the next panel's title
            ax.set_title("\n".join([variant_label(depth, bidirectional), *textwrap.wrap(
                "memory span: " + ", ".join(span_text), SPAN_TITLE_WIDTH)]))
            ax.xaxis.set_major_locator(MaxNLocator(8, integer=True))
            _metric_axis(ax, spec, linear_limits=(-0.05, 1.05))
            ax.set_xlabel("lag (steps from the information to the readout)")
            ax.grid(True, which="major", alpha=0.3, lw=0.5)
        axes[row, 0].set_ylabel(f"{spec.label} (held-out)")
    handles: list[object] = _cell_handles(ordered_cells(curves["cell"]), marker="o")
    handles += [Line2D([], [], color="0.3", ls=":", label="solved threshold"),
                Line2D([], [], color="0.3", ls="--", label=spec.baseline_label or "baseline")]
    return _finish(fig, panel, handles, title, ncols=3,
                   band="min-max over seeds" if banded else None)


@_styled
def item_memory_views(points: pd.DataFrame, tasks: Sequence[str],
                      correlations: Mapping[str, float], title: str = "",
                      notes: Sequence[str] = ()) -> Figure:
    """Item memory per lag, gradient view (x, the probe batch at the last probe) against the
    intervention view (y, the test set at the end): a panel per task, one point per (run, lag),
    colour per cell, marker per (depth, direction), the diagonal where the views agree; each
    title gives Pearson's correlation over the panel's points (`correlations[task]`).

    `points`: `analysis.item_memory_points` rows."""
    ncols = max(len(tasks), 1)
    fig, panel, axes = _paper_figure(WIDE, 3.3, notes, nrows=1, ncols=ncols, squeeze=False)
    _no_tasks(axes, tasks)
    combos = variants(points)
    markers = dict(zip(combos, "osD^vP*X", strict=False))
    for col, task in enumerate(tasks):
        ax = axes[0, col]
        rho = correlations.get(task, math.nan)
        rho_text = f"r = {rho:+.2f}" if math.isfinite(rho) else "r n/a"
        data = points[points["task"] == task]
        ax.set_title(f"{task}: {rho_text}, {len(data)} (run, lag) points")
        ax.plot([0, 1], [0, 1], color="0.5", ls="--", lw=0.8)
        if data.empty:
            _no_data(ax, "no item memory\n(listed below)")
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
    handles: list[object] = _cell_handles(ordered_cells(points["cell"]))
    handles += [Line2D([], [], color="0.3", ls="none", marker=markers[c],
                       label=variant_label(*c)) for c in combos]
    handles.append(Line2D([], [], color="0.5", ls="--", label="views agree"))
    _legend_below(panel, handles, ncols=4)
    if title:
        panel.suptitle(title)
    return fig
