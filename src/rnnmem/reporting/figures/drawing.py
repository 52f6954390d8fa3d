"""What every paper figure draws with: a figure in the paper style with its notes strip,
saving with fixed metadata (same figure, same bytes), the cells' colours, the no-data panel,
the metric and length axes, the seed band, and the one ending: the legend below the panels and
the title (`finish`). Matplotlib only; the numbers come from the analysis modules of
`rnnmem.reporting`."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.layout_engine import ConstrainedLayoutEngine  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import NullLocator, ScalarFormatter  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from rnnmem.models import CELLS  # noqa: E402
from rnnmem.reporting.labels import MetricSpec, cell_label, param_counts, task_text  # noqa: E402
from rnnmem.reporting.seeds import SeedBand  # noqa: E402
from rnnmem.reporting.style import STYLE  # noqa: E402
from rnnmem.rundir.atomic import write_atomically  # noqa: E402

CELL_COLOURS = {"rnn": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c"}
# registered cells beyond those three, in registry order (tab10, its grey left for the unknown)
SPARE_COLOURS = ("#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
OTHER_COLOUR = "#7f7f7f"
BAND_ALPHA = 0.18  # opacity of a band over seeds, and of its legend patch
WIDE = 6.75  # inches: a two-column paper figure
DODGE_WIDTH = 0.6  # x units over which the series of a one-x panel are spread
NOTE_FONT = 8
NOTE_MAX_LINES = 8
NOTE_LINE_INCHES = 0.155
POSITION_DECIMALS = 9  # of the figure's width and height: 1e-9 of 7 inches is 5e-7 pt
SAVE_METADATA = {
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": "rnnmem", "Creator": "rnnmem"},
    "png": {"Software": "rnnmem"},
    "svg": {"Date": None, "Creator": "rnnmem"},
}


class SettledLayout(ConstrainedLayoutEngine):
    """Matplotlib's constrained layout, with every axes placed at its position rounded to
    POSITION_DECIMALS decimals of the figure.

    The constrained layout's solution differs in the last bit (1e-16 of the figure) from one
    call to the next within a process, on the same figure: printed to the PDF's ten decimals of
    a point, such a difference once moved one tick label of figure 4 by 1e-10 pt, and the file's
    bytes with it. Rounded, the positions are the same at every call (a 1e-16 wobble crosses a
    rounding boundary of 1e-9 about once in 1e7 positions); the shift is invisible."""

    def execute(self, fig: Figure) -> Any:
        info = super().execute(fig)
        for ax in fig.get_axes():  # a colour bar's locator starts from the position rounded
            bounds = np.round(ax.get_position(original=True).bounds, POSITION_DECIMALS)
            ax._set_position(Bbox.from_bounds(*bounds), which="both")  # as the engine does
        return info


def new_figure(
    width: float = 6.0, height: float = 3.0, **subplots: object
) -> tuple[Figure, object]:
    """A figure in the paper style; `subplots` go to Figure.subplots."""
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(width, height), layout=SettledLayout())
        axes = fig.subplots(**subplots)
    return fig, axes


def paper_figure(
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
        fig = plt.figure(figsize=(width, height + extra), layout=SettledLayout())
        panel, foot = fig.subfigures(2, 1, height_ratios=[height, extra])
        axes = panel.subplots(**subplots)
    foot.text(0.01, 1.0, "\n".join(lines), ha="left", va="top", fontsize=NOTE_FONT, color="0.25",
              parse_math=False, linespacing=1.25)
    return fig, panel, axes


def styled(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Draw inside the paper style, so legends, texts and lines take its sizes."""

    @functools.wraps(draw)
    def in_style(*args: Any, **kwargs: Any) -> Figure:
        with plt.rc_context(STYLE):
            return draw(*args, **kwargs)

    return in_style


def save(fig: Figure, path_stem: Path, formats: tuple[str, ...] = ("pdf", "png")) -> list[Path]:
    """Write `path_stem.<fmt>` for each format with fixed metadata, so bytes are reproducible,
    each file atomically (`rnnmem.rundir.atomic`: an interrupted save leaves the previous file,
    never part of a new one).

    The layout is computed for the first format and kept for the others (same positions in
    every format, and half the layout work)."""
    paths = []
    with plt.rc_context(STYLE):
        for fmt in formats:
            path = Path(f"{path_stem}.{fmt}")
            metadata = dict(SAVE_METADATA[fmt])
            write_atomically(path, lambda handle, fmt=fmt, metadata=metadata: fig.savefig(
                handle, format=fmt, metadata=metadata), binary=True)
            paths.append(path)
            fig.set_layout_engine("none")
    return paths


def close(fig: Figure | str) -> None:
    """Close `fig` (or every figure: 'all')."""
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


def no_data(ax: Any, text: str) -> None:
    """An empty panel that says why (`text`), without ticks."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            fontsize=NOTE_FONT, color="0.35", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def no_tasks(axes: Any, tasks: Sequence[str]) -> None:
    """Say so in the first panel when there is no task to draw at all."""
    if not tasks:
        no_data(axes.flat[0], "no run with a known configuration\n(listed below)")


def seed_band(ax: Any, band: SeedBand, colour: str, **line: Any) -> bool:
    """`band`'s centre line (`line`: its style and label) and, where more than one seed is
    behind a point (`SeedBand.has_spread`), its band in the same colour; whether a band was
    drawn."""
    ax.plot(band.x, band.centre, color=colour, **line)
    if not band.has_spread:
        return False
    ax.fill_between(band.x, band.low, band.high, color=colour, alpha=BAND_ALPHA, lw=0)
    return True


def interval_fill(ax: Any, band: SeedBand, colour: str, **line: Any) -> None:
    """`band`'s centre line (`line`: its style and label) and its band, always (an interval,
    not a spread over seeds: it has a width behind one seed too)."""
    ax.plot(band.x, band.centre, color=colour, **line)
    ax.fill_between(band.x, band.low, band.high, color=colour, alpha=BAND_ALPHA, lw=0)


def dodge(count: int, width: float = DODGE_WIDTH) -> np.ndarray:
    """x offsets of `count` series drawn at one x, so that none hides another: evenly spaced
    over `width`, centred on 0 ([0.] for one series)."""
    if count <= 1:
        return np.zeros(max(count, 0))
    return np.linspace(-width / 2, width / 2, count)


def dodged_points(ax: Any, bands: Sequence[tuple[SeedBand, str, str]],
                  width: float = DODGE_WIDTH) -> None:
    """A dot plot of series that share one x (`bands`: (band, colour, label) each, one point
    per band): each series shifted by its `dodge` offset, its band as an error bar, the x axis
    ticked at the shared x only."""
    offsets = dodge(len(bands), width)
    shared = sorted({float(x) for band, _, _ in bands for x in band.x})
    for (band, colour, label), offset in zip(bands, offsets, strict=True):
        ax.errorbar(band.x + offset, band.centre,
                    yerr=[band.centre - band.low, band.high - band.centre], color=colour,
                    marker="o", ms=4, ls="none", capsize=2, lw=1.2, label=label)
    if shared:
        ax.set_xticks(shared)
        ax.set_xlim(min(shared) - width, max(shared) + width)


def metric_axis(ax: Any, spec: MetricSpec, linear_limits: tuple[float, float]) -> None:
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


def length_axis(ax: Any, lengths: Sequence[int], task: str) -> None:
    """An x axis of lengths T: log scale, a tick at each of `lengths`, the task's label."""
    ax.set_xscale("log")
    ax.set_xticks(sorted(lengths))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(task_text(task, "length_label", "T (steps)"))


def cell_handles(cells: Sequence[str], marker: str | None = None,
                 runs: pd.DataFrame | None = None) -> list[Line2D]:
    """One legend entry per cell; with `runs`, its parameter count too ('LSTM, 4.6K params')."""
    def label(cell: str) -> str:
        counts = param_counts(runs, cell) if runs is not None else ""
        return f"{cell_label(cell)}, {counts} params" if counts else cell_label(cell)

    return [Line2D([], [], color=cell_colour(c), marker=marker, label=label(c)) for c in cells]


def band_handles(label: str, drawn: bool) -> list[Patch]:
    """The legend entry of the seeds' band (`label`, e.g. 'min-max over seeds') if one was
    drawn; [] otherwise."""
    return [Patch(color="0.3", alpha=BAND_ALPHA, lw=0, label=label)] if drawn else []


def finish(fig: Figure, panel: Any, handles: Sequence[object], title: str,
           ncols: int = 4) -> Figure:
    """Every figure's ending: the legend of `handles` below the panels (none without
    handles), in `ncols` columns, and the title above them (none if empty)."""
    if handles:
        panel.legend(handles=list(handles), loc="outside lower center", ncols=ncols,
                     frameon=False)
    if title:
        panel.suptitle(title)
    return fig
