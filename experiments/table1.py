"""Table 1: the held-out metric of every configuration, a paper's compact table.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`. Written as `table1.md` (Markdown),
`table1.tex` (LaTeX, booktabs), `table1_runs.csv` (one row per run, every status) and
`references.md` (published numbers beside ours where a configuration matches, and the outcomes
Arjovsky et al. 2016 state beside ours at T = 100: `literature.py`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import literature
from rnnmem.config import direction_label
from rnnmem.reporting.gaps import run_names, star
from rnnmem.reporting.labels import cell_label, metric_spec, ordered_cells, param_counts
from rnnmem.reporting.records import summary_frame
from rnnmem.reporting.seeds import solved_by_majority
from rnnmem.reporting.selection import (
    MemoryHeadline,
    finished,
    lengths_of,
    memory_headline,
    select,
    tasks_of,
)
from rnnmem.reporting.tables import latex_grouped_table, markdown_table, mean_std

CAPTION = """
Rows: cell x depth x direction (and any other swept configuration key), with the parameter
count of each row's networks per task, in the column groups' order ('params'; a range where
they differ); columns: task x T.
Each entry is the task's held-out metric (adding: test MSE, solved below 0.01; copy: recall
accuracy, solved at 0.99 or more), mean +- sample std over the finished seeds; bold: solved by
most completed seeds. 'capacity' and 'span' are item memory after training at the task's
longest T, in the task's headline view (`rnnmem.measures.item_memory`; adding: intervention,
copy: choice), mean over the finished seeds: the capacity as a fraction of the measured lags
(the mean over lags of the memory clipped to [0, 1]: threshold-free, 0 for a memoryless net)
and the span in steps (the largest lag up to which memory stays above half of perfect with 95%
confidence; a bidirectional adding net's lags end at (T - 1) // 2, its nearer readout's). Records
that predate the capacity give the span alone, memory coverage or the memory horizon. '*': some
seeds of that entry failed, diverged, were preempted or left no record; '—': none finished. One
row per run: table1_runs.csv.
"""
CONFIG = ["cell", "depth", "bidirectional"]
# Published reference points (docs/tasks.md): (source, task, T, cell) -> (metric, value).
REFERENCES = {
    ("Bai et al. 2018", "adding", 600, "lstm"): ("test MSE", 0.164),
    ("Bai et al. 2018", "adding", 600, "gru"): ("test MSE", 5.3e-5),
    ("Bai et al. 2018", "adding", 600, "rnn"): ("test MSE", 0.177),
    ("Bai et al. 2018", "copy", 1000, "lstm"): ("test loss", 0.0204),
    ("Bai et al. 2018", "copy", 1000, "gru"): ("test loss", 0.0197),
    ("Bai et al. 2018", "copy", 1000, "rnn"): ("test loss", 0.0202),
}


def table_frame(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[str, int]]]:
    """Table 1 as strings, one row per configuration (cells in the paper's order): the entries,
    a same-shaped frame of booleans (solved: bold), and the column groups [(task, width)]."""
    extra = [axis for axis in runs.attrs.get("extra_axes", []) if axis in runs]
    config = CONFIG + extra
    known = runs.dropna(subset=["task", "seq_len", *CONFIG])
    tasks = tasks_of(known)
    lengths = {task: lengths_of(select(known, task=task)) for task in tasks}
    headline = memory_headline(known)
    heads = headline_columns(headline)
    order = {cell: rank for rank, cell in enumerate(ordered_cells(known["cell"]))}
    ranked = known.assign(rank=known["cell"].map(order))
    columns = ["cell", "depth", "direction", *extra, "params"]
    groups: list[tuple[str, int]] = [("", len(columns))]
    for task in tasks:
        columns += [f"{task} T={t}" for t in lengths[task]] + [f"{task} {h}" for h in heads]
        groups.append((task, len(lengths[task]) + len(heads)))
    rows, bold = [], []
    for key, group in ranked.groupby(["rank", *config], sort=True, dropna=False):
        values = dict(zip(config, key[1:], strict=True))
        row: dict[str, object] = {
            "cell": cell_label(values["cell"]), "depth": int(values["depth"]),
            "direction": direction_label(bool(values["bidirectional"])),
            **{axis: values[axis] for axis in extra},
            "params": " / ".join(param_counts(select(group, task=task)) or "—"
                                 for task in tasks)}
        solved_row = dict.fromkeys(columns, False)
        for task in tasks:
            spec = metric_spec(task, runs)
            mine = select(group, task=task)
            for length in lengths[task]:
                entry = select(mine, seq_len=length)
                column = f"{task} T={length}"
                done = finished(entry)
                text = mean_std(done[spec.column]) if spec.column in done else "—"
                row[column] = text + (star(entry) if len(entry) else "")
                solved_row[column] = solved_by_majority(entry)
            longest = finished(select(mine, seq_len=lengths[task][-1]))
            for name, column in heads.items():
                digits = 2 if headline.fraction and column == headline.column else 1
                row[f"{task} {name}"] = mean_of(longest, column, digits)
        rows.append(row)
        bold.append(solved_row)
    return (pd.DataFrame(rows, columns=columns),
            pd.DataFrame(bold, columns=columns).astype(bool), groups)


def headline_columns(headline: MemoryHeadline) -> dict[str, str]:
    """Table 1's memory columns, {name: column}: item memory's 'capacity' (fraction) and
    'span' where the records have them, else the one headline older records carry."""
    if headline.span is not None:
        return {"capacity": headline.column, "span": headline.span}
    name = {"intervention_span": "span", "memory_coverage": "coverage"}.get(headline.column,
                                                                           "horizon")
    return {name: headline.column}


def mean_of(runs: pd.DataFrame, column: str, digits: int) -> str:
    """The mean of the finite values of `column` with `digits` decimals; '—' for none."""
    values = runs[column].to_numpy(dtype=float) if len(runs) and column in runs else np.array([])
    values = values[np.isfinite(values)]
    return f"{values.mean():.{digits}f}" if len(values) else "—"


def reference_lines(runs: pd.DataFrame) -> list[str]:
    """Markdown: each published reference point beside our number at the same task, T and
    cell (one layer, unidirectional), or a line saying that no configuration matches."""
    lines = ["| source | task | T | cell | metric | published | ours (1 layer, uni.) |",
             "|---|---|---|---|---|---|---|"]
    matched = 0
    for (source, task, length, cell), (metric, value) in REFERENCES.items():
        ours = finished(select(runs, task=task, seq_len=length, cell=cell, depth=1,
                               bidirectional=False))
        column = ("test_loss" if metric == "test loss"
                  else metric_spec(task, runs).column)
        if ours.empty or column not in ours:
            continue
        matched += 1
        lines.append(f"| {source} | {task} | {length} | {cell_label(cell)} | {metric} | "
                     f"{value:.3g} | {mean_std(ours[column])} |")
    if not matched:
        points = sorted({f"{task} T={length}" for _, task, length, _ in REFERENCES})
        return [f"No configuration of this sweep matches a published reference point "
                f"({', '.join(points)}: Bai et al. 2018, Table 1; Arjovsky et al. 2016 report "
                f"curves, not numbers). Run `make sweep EXPERIMENT=paper "
                f"ARGS='task.seq_len=600'` (adding) or `task.seq_len=1000` (copy) to compare."]
    return lines


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    table, bold, groups = table_frame(runs)
    unknown = runs[runs[["task", "seq_len", *CONFIG]].isna().any(axis=1)]
    footer = ""
    if len(unknown):
        names = run_names(unknown, with_error=True)
        footer = f"\nNot in the table, configuration unknown ({len(names)}): {', '.join(names)}\n"
    markdown, latex = out_dir / "table1.md", out_dir / "table1.tex"
    shown = table.copy()
    for column in table.columns:
        shown[column] = [f"**{v}**" if b else v for v, b in zip(table[column], bold[column],
                                                                strict=True)]
    markdown.write_text(markdown_table(shown) + footer)
    caption = ("Held-out metric (mean ± std over seeds; adding: test MSE, copy: recall "
               "accuracy), bold where most seeds solved the task, and item memory after "
               "training at the longest T (mean over seeds, the task's headline view): its "
               "capacity as a fraction of the measured lags and its span (steps).")
    latex.write_text(latex_grouped_table(table, bold, groups, caption=caption,
                                         label="tab:memory"))
    long = out_dir / "table1_runs.csv"
    summary_frame(runs[runs["status"] != "missing"]).to_csv(long, index=False)
    references = out_dir / "references.md"
    claims = literature.claim_lines(runs)
    stated = ("\nOutcomes that the papers state (their figures, tables and captions, "
              "paraphrased) beside ours (`experiments/literature.py`):\n\n"
              + "\n".join(claims) + "\n" if claims else "")
    references.write_text("Published reference points beside ours:\n\n"
                          + "\n".join(reference_lines(runs)) + "\n" + stated)
    return [markdown, latex, long, references]
