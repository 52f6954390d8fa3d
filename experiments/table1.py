"""Table 1: every configuration's final metric, baseline, solved and memory horizon.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`. Written as `table1.md` (Markdown)
and `table1.tex` (LaTeX, booktabs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rnnmem import figures
from rnnmem.config import direction_label
from rnnmem.tables import latex_table, markdown_table
from rnnmem.tasks import make_task

CAPTION = """
One row per configuration (task, cell, depth, direction, T). Metric, test loss and memory
horizon: mean +- sample std over the finished seeds (seeds: finished / in the grid). Baseline:
the memoryless test loss. Solved: completed (finished or diverged) seeds that solved the task.
Runs that failed, diverged or left no record are counted in the last column.
"""
CONFIG = ["task", "cell", "depth", "bidirectional", "seq_len"]
COLUMNS = ["task", "cell", "depth", "direction", "T", "seeds", "metric", "final", "test loss",
           "baseline", "solved", "memory horizon", "not finished"]


def mean_std(values: pd.Series, digits: int = 4) -> str:
    """'mean ± std' (sample std) of the finite values, the mean to `digits` significant digits;
    the value alone for one; '—' for none."""
    data = values.to_numpy(dtype=float)
    data = data[np.isfinite(data)]
    if len(data) == 0:
        return "—"
    if len(data) == 1:
        return f"{data[0]:.{digits}g}"
    return f"{data.mean():.{digits}g} ± {data.std(ddof=1):.2g}"


def table_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Table 1 as a DataFrame of strings, one row per configuration, sorted by the axes (cells
    in the paper's order)."""
    rows = []
    known = runs.dropna(subset=CONFIG)
    order = {cell: rank for rank, cell in enumerate(figures.ordered_cells(known["cell"]))}
    known = known.assign(rank=known["cell"].map(order))
    for (task, _, cell, depth, bidirectional, length), group in known.groupby(
            ["task", "rank", *CONFIG[1:]], sort=True):
        spec = figures.metric_spec(task)
        done = figures.finished(group)
        completed = group[group["status"].isin(("finished", "diverged"))]
        counts = group["status"].value_counts()
        rows.append({
            "task": task,
            "cell": figures.cell_label(cell),
            "depth": int(depth),
            "direction": direction_label(bidirectional),
            "T": int(length),
            "seeds": f"{len(done)}/{len(group)}",
            "metric": spec.label,
            "final": mean_std(done[spec.column]) if spec.column in done else "—",
            "test loss": mean_std(done["test_loss"]),
            "baseline": f"{make_task(task, int(length)).baseline:.4g}",
            "solved": f"{int(completed['solved'].astype(bool).sum())}/{len(completed)}",
            "memory horizon": mean_std(done["memory_horizon"], digits=3),
            "not finished": ", ".join(f"{int(counts[s])} {s}" for s in figures.GAP_STATUSES
                                      if counts.get(s, 0)),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    table = table_frame(runs)
    unknown = runs[runs[CONFIG].isna().any(axis=1)]
    footer = ""
    if len(unknown):
        names = figures.run_names(unknown, with_error=True)
        footer = f"\nNot in the table, configuration unknown ({len(names)}): {', '.join(names)}\n"
    markdown, latex = out_dir / "table1.md", out_dir / "table1.tex"
    markdown.write_text(markdown_table(table) + footer)
    caption = ("Final held-out metric (mean ± std over seeds), memoryless baseline loss, "
               "seeds solved and memory horizon of every configuration.")
    latex.write_text(latex_table(table, caption=caption, label="tab:memory"))
    return [markdown, latex]
