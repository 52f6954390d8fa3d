"""Figure 8: item memory per lag, the probe view against the end view.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`. Written with
`fig8_gradient_vs_behaviour.md`: per task the correlation, and per configuration and T both
views' capacity (lags and fraction) and span, with where they disagree.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from rnnmem.reporting.curves import item_memory_curves, item_memory_points, pearson
from rnnmem.reporting.figures import drawing
from rnnmem.reporting.figures.per_lag import item_memory_views
from rnnmem.reporting.gaps import gap_notes, gaps_for
from rnnmem.reporting.item_views import readings, run_views, view_summaries, view_text
from rnnmem.reporting.labels import cell_label, ordered_cells
from rnnmem.reporting.selection import select, tasks_of

CAPTION = """
Item memory on an absolute scale (1: the output moves one-for-one with the item, perfect recall;
0: not at all), per lag, for every finished run after training and every lag both views
measured, both views on the same stratified item set (at least `probe.items_per_lag`, 30, items
per lag) and the same trained weights. Adding: x, the gradient view, d yhat / d v_p on a float64
twin at the last probe (a derivative); y, the intervention view, (yhat' - yhat) / (u - v_p)
with v_p replaced by u = v_p + 1/2 mod 1 at the end (a finite change). Copy: x, the
probability view, (P'(s') - P(s')) / (1 - P(s')) with P the recall's softmax probability of a
swapped-in symbol s'; y, the choice view, (F - F0) / (1 - F0) with F = 1 where the argmax recall
names s' after the swap (F0: before it): a probability against a choice, so a net that moves
its probabilities without changing its argmax sits right of the diagonal. The gradient view is
a derivative and misses jumps: a discontinuous net (orth's modReLU with b > 0, whose units
switch on and off as v_p moves) raises yhat partly in steps, which the intervention view counts
and the derivative does not, so orth's points sit above the diagonal for that reason. Lag:
steps to the nearest readout of the network (a bidirectional adding net reads position p from
its backward readout at t = 0 after p steps). Dashed: the views agree. Titles: Pearson's
correlation over the panel's points, their number (one per run and lag: copy with the fixed
delay has one lag per run, so its points are its runs) and the runs behind them.
"""


def correlations(points: pd.DataFrame, tasks: list[str]) -> dict[str, float]:
    return {task: pearson(*(points[points["task"] == task][c] for c in ("probe", "end")))
            for task in tasks}


def span_table(summaries: pd.DataFrame, per_run: pd.DataFrame, task: str) -> list[str]:
    """Markdown lines: per T and configuration of `task`, the probe and the end view's
    capacity and span after training (`rnnmem.reporting.item_views.view_text`) and where
    they disagree (`readings`, probe against end only)."""
    mine = summaries[(summaries["task"] == task) & summaries["role"].isin(("probe", "end"))]
    if mine.empty:
        return [f"No finished {task} run has item memory."]
    names = [str(mine[mine["role"] == role]["view"].iloc[0]) if (mine["role"] == role).any()
             else role for role in ("probe", "end")]
    lines = [f"| T | cell | depth | direction | {names[0]} | {names[1]} | views |",
             "|---|---|---|---|---|---|---|"]
    order = {cell: rank for rank, cell in enumerate(ordered_cells(mine["cell"]))}
    mine = mine.assign(rank=mine["cell"].map(order))
    for key, group in mine.groupby(["seq_len", "rank", "depth", "bidirectional"], sort=True):
        length, _, depth, bidirectional = key
        cell = group["cell"].iloc[0]
        texts = [view_text(group[group["role"] == role].iloc[0])
                 if (group["role"] == role).any() else "n/a" for role in ("probe", "end")]
        runs = select(per_run, task=task, cell=cell, depth=depth, bidirectional=bidirectional,
                      seq_len=length)
        found = readings(runs[runs["role"].isin(("probe", "end"))])
        lines.append(f"| {int(length)} | {cell_label(cell)} | {int(depth)} | "
                     f"{'bi' if bidirectional else 'uni'} | {texts[0]} | {texts[1]} | "
                     f"{'; '.join(found) if found else 'agree'} |")
    return lines


def findings(points: pd.DataFrame, rho: dict[str, float], summaries: pd.DataFrame,
             per_run: pd.DataFrame) -> list[str]:
    lines = ["| task | x: probe view | y: end view | (run, lag) points | both below 0.05 | "
             "both above 0.95 | Pearson r | mean (y - x) | mean abs. (y - x) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for task, value in rho.items():
        data = points[points["task"] == task]
        names = [str(data[c].iloc[0]) if len(data) else "n/a"
                 for c in ("probe_view", "end_view")]
        difference = data["end"] - data["probe"]
        low = int(((data["probe"] < 0.05) & (data["end"] < 0.05)).sum())
        high = int(((data["probe"] > 0.95) & (data["end"] > 0.95)).sum())
        lines.append(f"| {task} | {names[0]} | {names[1]} | {len(data)} | {low} | {high} | "
                     f"{f'{value:+.2f}' if math.isfinite(value) else 'n/a'} | "
                     f"{f'{difference.mean():+.3g}' if len(data) else 'n/a'} | "
                     f"{f'{difference.abs().mean():.3g}' if len(data) else 'n/a'} |")
    lines += ["", "Points where both views are below 0.05 or above 0.95 sit in the corners: a "
              "correlation carried by those two clusters says the views agree on which runs "
              "remember, not how much the others do."]
    lines += ["", "Per configuration and T, after training: each view's capacity in lags "
              "[the seeds' 95% bootstrap intervals, lowest to highest] of the measured lags = "
              "the fraction, and its span (means over finished seeds; '>=': every seed's span "
              "is the largest lag, a lower bound). The views disagree where their capacity "
              "intervals (as fractions) are disjoint, on one side, in every seed "
              "(`rnnmem.reporting.item_views`)."]
    for task in rho:
        lines += ["", f"{task}:", "", *span_table(summaries, per_run, task)]
    return lines


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    curves = item_memory_curves(runs)
    points = item_memory_points(curves)
    per_run = run_views(runs, curves)
    summaries = view_summaries(per_run)
    tasks = tasks_of(runs)
    rho = correlations(points, tasks)
    notes = gap_notes(gaps_for(runs))
    fig = item_memory_views(points, tasks, rho, notes=notes,
                            title="Item memory per lag: probe view against end view")
    paths = drawing.save(fig, out_dir / "fig8_gradient_vs_behaviour")
    drawing.close(fig)
    text = out_dir / "fig8_gradient_vs_behaviour.md"
    text.write_text("\n".join(findings(points, rho, summaries, per_run)) + "\n")
    return [*paths, text]
