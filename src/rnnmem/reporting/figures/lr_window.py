"""The lr window of a learning-rate search (`rnnmem.reporting.lr_window` reads the trials): the
validation metric against lr, every trial a point, one line per study."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rnnmem.reporting.figures.drawing import (
    WIDE,
    cell_colour,
    finish,
    metric_axis,
    no_tasks,
    paper_figure,
    styled,
)
from rnnmem.reporting.labels import cell_label, metric_spec
from rnnmem.reporting.lr_window import sorted_trials

LINE_STYLES = ("-", "--", ":", "-.")  # studies of one cell in one panel (other T, other sizes)
MARKERS = ("o", "s", "^", "D")
FAILED_HEIGHT = 0.03  # axes fraction at which a failed trial's x is drawn


@styled
def lr_window(trials: pd.DataFrame, lr_range: tuple[float, float], title: str = "",
              notes: Sequence[str] = ()) -> Figure:
    """A panel per task: the last validation value of its metric against lr (log scale, the
    searched range), every complete trial a point, joined by lr in one line per study (the
    cell's colour; further studies of the same cell dashed, dotted); a trial whose run failed or
    diverged is an x at the panel's foot; the task's memoryless baseline dashed and its solved
    threshold dotted.

    `trials`: one row per trial, columns of `rnnmem.reporting.lr_window.TRIAL_COLUMNS`."""
    trials = sorted_trials(trials) if len(trials) else trials
    tasks = sorted(set(trials["task"])) if len(trials) else []
    fig, panel, axes = paper_figure(WIDE, 2.9, notes, ncols=max(len(tasks), 1), squeeze=False)
    no_tasks(axes, tasks)
    handles: list[Line2D] = []
    failed_drawn = False
    for ax, task in zip(axes[0], tasks, strict=False):
        spec = metric_spec(task, trials)
        rows = trials[trials["task"] == task]
        seen: dict[str, int] = {}
        for _, study in rows.groupby("study", sort=False):
            cell = study["cell"].iloc[0]
            index = seen[cell] = seen.get(cell, -1) + 1
            colour, style = cell_colour(cell), LINE_STYLES[index % len(LINE_STYLES)]
            marker = MARKERS[index % len(MARKERS)]
            label = f"{task}: {study_label(study)}" if len(tasks) > 1 else study_label(study)
            done = study[study["state"] == "complete"]
            ax.plot(done["lr"], done["value"], color=colour, ls=style, marker=marker, ms=4,
                    lw=1.2, label=label)
            handles.append(Line2D([], [], color=colour, ls=style, marker=marker, ms=4,
                                  label=label))
            failed = study[study["state"] == "failed"]
            if len(failed):
                failed_drawn = True
                ax.plot(failed["lr"], [FAILED_HEIGHT] * len(failed), ls="none", marker="x",
                        color=colour, ms=6, clip_on=False, transform=ax.get_xaxis_transform())
        metric_axis(ax, spec, linear_limits=(-0.04, 1.04))
        ax.set_xscale("log")
        ax.set_xlim(*lr_range)
        ax.set_xlabel("learning rate")
        ax.set_ylabel(f"validation {spec.label.removeprefix('test ')}")
        ax.set_title(task)
        ax.grid(True, which="major", alpha=0.3, lw=0.5)
    handles += [Line2D([], [], color="0.3", ls="--", label=label) for label in
                sorted({metric_spec(t, trials).baseline_label for t in tasks} - {""})]
    if tasks:
        handles.append(Line2D([], [], color="0.3", ls=":", label="solved threshold"))
    if failed_drawn:
        handles.append(Line2D([], [], color="0.3", ls="none", marker="x",
                              label="run failed or diverged"))
    return finish(fig, panel, handles, title, ncols=3)


def study_label(study: pd.DataFrame) -> str:
    """'GRU, T=20' and the study's other swept values ('GRU, T=20 (model.hidden_size=64)')."""
    first = study.iloc[0]
    cell = str(first["cell"])
    others = [part for part in str(first["label"]).split()
              if part != "default" and not part.startswith(("model.cell=", "model=", "task=",
                                                             "task.seq_len="))]
    text = f"{cell_label(cell)}, T={int(first['seq_len'])}"
    return text + (f" ({' '.join(others)})" if others else "")
