"""Figure 8: item memory per lag, the gradient view against the behavioural (intervention) view.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`. Written with
`fig8_gradient_vs_behaviour.md`: the correlation per task, and each configuration's
item-memory span per T from both views, with where they disagree.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from rnnmem.reporting.curves import item_memory_points, pearson
from rnnmem.reporting.figures import drawing
from rnnmem.reporting.figures.per_lag import item_memory_views
from rnnmem.reporting.gaps import gap_notes, gaps_for
from rnnmem.reporting.labels import cell_label, ordered_cells
from rnnmem.reporting.selection import finished, tasks_of

CAPTION = """
Item memory on an absolute scale (1: the output moves one-for-one with the item, perfect
recall; 0: not at all), per lag, for every finished run after training and every lag both views
measured. x: the gradient view on the probe batch at the last probe (adding: d yhat / d v_p at
the two marked positions; copy: the chance-corrected change in the recall's probability of a
swapped-in symbol). y: the intervention view on the held-out test set at the end (adding:
(yhat' - yhat) / (u - v_p) with v_p replaced by u = v_p + 1/2 mod 1; copy: how often the recall
follows a swapped symbol, chance removed). Lag: steps to the nearest readout of the network (a
bidirectional adding net also reads position p from its backward readout at t = 0). Dashed:
the views agree. Titles: Pearson's correlation over the panel's (run, lag) points.
"""


def correlations(points: pd.DataFrame, tasks: list[str]) -> dict[str, float]:
    return {task: pearson(*(points[points["task"] == task][c]
                            for c in ("gradient", "intervention")))
            for task in tasks}


def span_table(runs: pd.DataFrame) -> list[str]:
    """Markdown lines: per task, T and configuration, both views' item-memory spans after
    training (mean over finished seeds; '>=' where every seed's span is the largest measured
    lag, a lower bound) and whether they disagree."""
    done = finished(runs)
    if done.empty or "intervention_span" not in done or done["intervention_span"].isna().all():
        return ["No finished run has item-memory spans."]
    lines = ["| task | T | cell | depth | direction | gradient span | intervention span | "
             "views |", "|---|---|---|---|---|---|---|---|"]
    order = {cell: rank for rank, cell in enumerate(ordered_cells(done["cell"]))}
    done = done.assign(rank=done["cell"].map(order))
    for key, group in done.groupby(["task", "seq_len", "rank", "depth", "bidirectional"],
                                   sort=True):
        task, length, _, depth, bidirectional = key
        cell = group["cell"].iloc[0]
        texts, means = [], []
        for view in ("gradient", "intervention"):
            values = group[f"{view}_span"].to_numpy(dtype=float)
            bound = group[f"{view}_span_is_bound"].to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            means.append(finite.mean() if len(finite) else math.nan)
            prefix = ">= " if len(bound) and np.all(bound == 1) else ""
            texts.append(f"{prefix}{means[-1]:.1f}" if len(finite) else "n/a")
        agree = ("n/a" if not all(math.isfinite(m) for m in means)
                 else "agree" if abs(means[0] - means[1]) <= 1 else "differ")
        lines.append(f"| {task} | {int(length)} | {cell_label(cell)} | {int(depth)} "
                     f"| {'bi' if bidirectional else 'uni'} | {texts[0]} | {texts[1]} | "
                     f"{agree} |")
    return lines


def findings(points: pd.DataFrame, rho: dict[str, float], runs: pd.DataFrame) -> list[str]:
    lines = ["| task | (run, lag) points | Pearson r | mean abs. difference |",
             "|---|---|---|---|"]
    for task, value in rho.items():
        data = points[points["task"] == task]
        difference = (data["gradient"] - data["intervention"]).abs().mean()
        lines.append(f"| {task} | {len(data)} | "
                     f"{f'{value:+.2f}' if math.isfinite(value) else 'n/a'} | "
                     f"{f'{difference:.3g}' if len(data) else 'n/a'} |")
    return [*lines, "", "Item-memory span per T, after training (the largest lag up to which "
            "memory stays above half of perfect recall with 95% confidence, "
            "`rnnmem.measures.item_memory`; mean over finished seeds; '>=': every seed's span is "
            "the largest measured lag, a lower bound; 'differ': the views' means are more than one "
            "lag apart):", "", *span_table(runs)]


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    points = item_memory_points(runs)
    tasks = tasks_of(runs)
    rho = correlations(points, tasks)
    notes = gap_notes(gaps_for(runs))
    fig = item_memory_views(points, tasks, rho, notes=notes,
                            title="Item memory per lag: gradient against intervention")
    paths = drawing.save(fig, out_dir / "fig8_gradient_vs_behaviour")
    drawing.close(fig)
    text = out_dir / "fig8_gradient_vs_behaviour.md"
    text.write_text("\n".join(findings(points, rho, runs)) + "\n")
    return [*paths, text]
