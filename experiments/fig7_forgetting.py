"""Figure 7: forgetting curves, the held-out error against lag, one file per task and T.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`. One file per task:
`fig7_forgetting_<task>_T<T>`, and `fig7_forgetting.md`, each configuration's memory span
per T.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnmem.reporting.curves import forgetting_curves, pooled_span
from rnnmem.reporting.figures import drawing
from rnnmem.reporting.figures.per_lag import forgetting
from rnnmem.reporting.gaps import gap_notes, gaps_for, note_lines
from rnnmem.reporting.labels import cell_label, metric_spec
from rnnmem.reporting.seeds import range_band
from rnnmem.reporting.selection import finished, lengths_of, select, tasks_of

CAPTION = """
The held-out metric of the trained networks against lag, the number of steps between the
information and its nearest readout (adding: the squared error grouped by the markers'
positions, lag T - 1 - p of the first marker for a unidirectional net; copy: recall accuracy,
lag T + 10 for every symbol with the fixed delay, one lag per delay with `task.delay=variable`),
one figure per T: never pooled over T, whose sequences would otherwise enter at their own lags
and make steps where each T begins. A bidirectional adding net also reads each marker from its
backward readout at t = 0, p steps later, so its lag is the larger of the two markers'
min(T - 1 - p, p): at most (T - 1) // 2, the lag item memory counts too (figures 4, 8 and 9).
Mean over seeds with a min-max band; where every cell has one lag (copy with the fixed delay)
the cells stand side by side around it with min-max bars, so that none hides another. Dotted:
the solved threshold; dashed: the memoryless value. Memory span: the largest lag up to which
every measured lag meets the solved threshold (0: not even the shortest one).
"""


Key = tuple[str, int, str, int, bool]  # task, T, cell, depth, bidirectional


def spans(curves: pd.DataFrame) -> dict[Key, int]:
    """The memory span of each (task, T, configuration)'s mean curve over seeds."""
    return {(task, int(length), cell, int(depth), bool(bidirectional)):
            pooled_span(task, group)
            for (task, length, cell, depth, bidirectional), group in curves.groupby(
                ["task", "seq_len", "cell", "depth", "bidirectional"], sort=True)}


def findings(curves: pd.DataFrame, found: dict[Key, int]) -> list[str]:
    """Markdown lines: per task, T and configuration, the lags measured and the memory span."""
    if not found:
        return ["No finished run has a forgetting curve."]
    lines = ["| task | T | cell | depth | direction | lags measured | memory span | "
             "first lag that fails |", "|---|---|---|---|---|---|---|---|"]
    for (task, length, cell, depth, bidirectional), span in found.items():
        group = select(curves, task=task, seq_len=length, cell=cell, depth=depth,
                       bidirectional=bidirectional)
        lags, mean, *_ = range_band(group, "lag", "value")
        kind = metric_spec(task, curves)
        fails = [int(lag) for lag, value in zip(lags, mean, strict=True)
                 if not (value >= kind.threshold if kind.higher_is_better
                         else value < kind.threshold)]
        lines.append(f"| {task} | {length} | {cell_label(cell)} | {depth} | "
                     f"{'bi' if bidirectional else 'uni'} | {int(lags.min())}-{int(lags.max())} "
                     f"| {span} | {fails[0] if fails else 'none'} |")
    return lines


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    curves = forgetting_curves(runs)
    found = spans(curves)
    no_curve = sorted(set(finished(runs)["run"])
                      - set(finished(runs).merge(
                          curves[["task", "cell", "depth", "bidirectional", "seq_len", "seed"]]
                          .drop_duplicates(), how="inner")["run"]))
    paths: list[Path] = []
    for task in tasks_of(runs):
        notes = gap_notes(gaps_for(runs, task=task)) + note_lines(
            "not shown, no forgetting curve", [r for r in no_curve if r.startswith(f"{task}/")])
        for length in lengths_of(select(runs, task=task)):
            mine = select(curves, task=task, seq_len=length)
            fig = forgetting(
                mine, task, {key[2:]: span for key, span in found.items()
                             if key[:2] == (task, length)},
                notes=notes, title=f"Forgetting: {task}, T = {length}")
            paths += drawing.save(fig, out_dir / f"fig7_forgetting_{task}_T{length}")
            drawing.close(fig)
    text = out_dir / "fig7_forgetting.md"
    text.write_text("\n".join(findings(curves, found)) + "\n")
    return [*paths, text]
