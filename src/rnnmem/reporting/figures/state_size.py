"""Figure 10: what each cell remembers against its recurrent state size (`rnnmem.reporting.
state_size` computes the points)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from rnnmem.reporting.figures import drawing  # noqa: E402
from rnnmem.reporting.labels import metric_spec, ordered_cells  # noqa: E402
from rnnmem.reporting.state_size import quantities  # noqa: E402


@drawing.styled
def memory_and_state(points: pd.DataFrame, runs: pd.DataFrame, title: str = "",
                     notes: Sequence[str] = ()) -> Figure:
    """A column per task, a row per quantity (the task's metric, then each item-memory view's
    capacity fraction), x the recurrent state elements per layer (log scale): one marker per
    cell and state size at the mean over seeds, a bar from the smallest to the largest seed, a
    cell's sizes joined by a line.

    `points`: `rnnmem.reporting.state_size.state_points`; `runs`: the rows they came from (for
    the tasks' metric specs)."""
    tasks = sorted(set(points["task"]))
    rows = max((len(quantities(task, runs)) for task in tasks), default=1)
    width = max(drawing.WIDE, 1.9 * len(tasks))  # four tasks' panels need 7.6 inches
    fig, panel, axes = drawing.paper_figure(width, 1.9 * rows + 0.5, notes, nrows=rows,
                                            ncols=max(len(tasks), 1), squeeze=False)
    drawing.no_tasks(axes, tasks)
    for col, task in enumerate(tasks):
        mine = points[points["task"] == task]
        spec = metric_spec(task, runs)
        shown = quantities(task, runs)
        for row in range(rows):
            ax = axes[row, col]
            if row >= len(shown):
                ax.set_axis_off()
                continue
            quantity = shown[row][0]
            data = mine[mine["quantity"] == quantity]
            for cell in ordered_cells(data["cell"]):
                line = data[data["cell"] == cell]
                colour = drawing.cell_colour(cell)
                ax.plot(line["state_elements"], line["mean"], color=colour, marker="o", ms=4,
                        lw=1.0)
                ax.vlines(line["state_elements"], line["low"], line["high"], color=colour,
                          lw=1.0)
            ax.set_xscale("log")  # ticks at 1, 2, 5 x 10^k, written plainly
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            if quantity == "metric":
                drawing.metric_axis(ax, spec, linear_limits=(-0.05, 1.05))
                ax.set_ylabel(spec.label, fontsize=8)
                length = int(mine["seq_len"].iloc[0]) if len(mine) else 0
                ax.set_title(f"{task}, T = {length}", fontsize=9)
            else:
                ax.set_ylim(-0.05, 1.05)
                ax.set_ylabel(f"capacity, {quantity} view", fontsize=8)
            ax.grid(True, which="major", alpha=0.3, lw=0.5)
            if row == len(shown) - 1:
                ax.set_xlabel("state elements per layer", fontsize=8)
    handles: list[object] = drawing.cell_handles(ordered_cells(points["cell"]), marker="o")
    handles.append(Line2D([], [], color="0.3", lw=1.0, label="smallest to largest seed"))
    return drawing.finish(fig, panel, handles, title, ncols=4)
