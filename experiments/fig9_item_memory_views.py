"""Figure 9: item memory per lag from its three views, per task, depth and direction.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`. One file per task and (depth,
direction), `fig9_item_memory_<task>_d<depth>_<uni|bi>`: a bidirectional net's lags end at its
nearer readout and a deeper net is another network, so no variant hides behind another's lines
(a variant without a finished run that has item memory is left out; a task without any draws its
shallowest unidirectional one, empty, with the runs it lacks); and `fig9_item_memory_views.md`,
per configuration and T each view's capacity (lags, fraction, interval) and span, the items
behind each lag, and where the views disagree.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnmem.reporting.curves import item_memory_curves
from rnnmem.reporting.figures import drawing
from rnnmem.reporting.figures.per_lag import item_memory_lags
from rnnmem.reporting.gaps import gap_notes, gaps_for
from rnnmem.reporting.item_views import (
    items_text,
    readings,
    run_views,
    view_summaries,
    view_text,
)
from rnnmem.reporting.labels import cell_label, ordered_cells, variant_label, variant_slug
from rnnmem.reporting.selection import headline_variant, select, tasks_of, variants

CAPTION = """
Item memory after training (`rnnmem.measures.item_memory`; 1: the output, or for storage a
read-out of the state, follows the item perfectly; 0: not at all) against lag, the steps from
the item to its nearest readout. Columns, the three views: the probe view at the last probe
(adding: the gradient d yhat / d v_p, a derivative; copy: the probability view, the
chance-corrected change of the recall's probability of a swapped-in symbol), the end view at
the end (adding: intervention, (yhat' - yhat) / (u - v_p); copy: choice, how often the argmax
recall follows the swap, chance removed), both on one stratified item set of at least
`probe.items_per_lag` (30) items per lag, and storage: a ridge read-out of the item from the
head's input, fitted on four folds of the sequences and scored on the fifth (adding: R^2;
copy: accuracy over the 8 symbols, chance removed), on a larger set sized to the read-out's
weights. Storage says whether the item is in the state, used or not; the first two whether the
output moves with it. Rows: T. One line per cell, the mean over finished seeds, in a band from
the lowest seed's 95% interval low end to the highest seed's high end (it holds each seed's
interval and the spread between seeds); a panel with one lag (copy with the fixed delay: every
symbol at T + 10) shows the cells side by side with that band as a bar. Dashed: half of perfect
memory, the span's line. Titles: each cell's capacity, the sum over measured lags of the memory
clipped to [0, 1] (mean over seeds), of the measured lags. The .md gives every configuration,
the intervals, the spans and the items per lag.
"""


def findings(summaries: pd.DataFrame, per_run: pd.DataFrame) -> list[str]:
    """Markdown lines: per task a table of every configuration and T, with each view's
    capacity and span (`view_text`), the items per lag (`items_text`) and where the views
    disagree (`readings`), and a count of the disagreements."""
    if summaries.empty:
        return ["No finished run has item memory."]
    lines = ["Per configuration and T, after training: each view's capacity in lags [the "
             "seeds' 95% bootstrap intervals, lowest to highest] of the measured lags = the "
             "fraction, and its span (means over finished seeds; '>=': every seed's span is the "
             "largest lag, a lower bound); the items behind each measured lag (the item set's "
             "fewest, or fewest-most, then storage's set); where two views' capacity intervals "
             "(as fractions) are disjoint on one side in every seed, in words "
             "(`rnnmem.reporting.item_views`)."]
    for task in tasks_of(summaries):
        mine = summaries[summaries["task"] == task]
        names = {role: str(mine[mine["role"] == role]["view"].iloc[0])
                 for role in ("probe", "end", "storage") if (mine["role"] == role).any()}
        heads = list(names.values())
        lines += ["", f"{task}:", "",
                  f"| T | cell | depth | direction | {' | '.join(heads)} | items per lag | "
                  "where the views disagree |",
                  "|" + "---|" * (6 + len(heads))]
        order = {cell: rank for rank, cell in enumerate(ordered_cells(mine["cell"]))}
        ranked = mine.assign(rank=mine["cell"].map(order))
        disagree = total = 0
        for key, group in ranked.groupby(["seq_len", "rank", "depth", "bidirectional"],
                                         sort=True):
            length, _, depth, bidirectional = key
            cell = group["cell"].iloc[0]
            texts = [view_text(group[group["role"] == role].iloc[0])
                     if (group["role"] == role).any() else "n/a" for role in names]
            found = readings(select(per_run, task=task, cell=cell, depth=depth,
                                    bidirectional=bidirectional, seq_len=length))
            total += 1
            disagree += bool(found)
            lines.append(f"| {int(length)} | {cell_label(cell)} | {int(depth)} | "
                         f"{'bi' if bidirectional else 'uni'} | {' | '.join(texts)} | "
                         f"{items_text(group)} | {'; '.join(found) if found else 'agree'} |")
        lines += ["", f"{task}: the views disagree in {disagree} of {total} configurations "
                      f"and lengths."]
    return lines


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    curves = item_memory_curves(runs)
    per_run = run_views(runs, curves)
    summaries = view_summaries(per_run)
    paths: list[Path] = []
    for task in tasks_of(runs):
        shown = [(depth, bidirectional) for depth, bidirectional in variants(runs[
            runs["task"] == task]) if not select(curves, task=task, depth=depth,
                                                 bidirectional=bidirectional).empty]
        for depth, bidirectional in shown or [headline_variant(runs[runs["task"] == task])]:
            mine = select(curves, task=task, depth=depth, bidirectional=bidirectional)
            notes = gap_notes(gaps_for(runs, task=task, depth=depth,
                                       bidirectional=bidirectional))
            fig = item_memory_lags(
                mine, select(summaries, task=task, depth=depth, bidirectional=bidirectional),
                task, notes=notes,
                title=f"Item memory per lag: {task}, {variant_label(depth, bidirectional)}")
            stem = f"fig9_item_memory_{task}_{variant_slug(depth, bidirectional)}"
            paths += drawing.save(fig, out_dir / stem)
            drawing.close(fig)
    text = out_dir / "fig9_item_memory_views.md"
    text.write_text("\n".join(findings(summaries, per_run)) + "\n")
    return [*paths, text]
