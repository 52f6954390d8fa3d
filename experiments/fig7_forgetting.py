"""Figure 7: forgetting curves, the held-out error against lag, one file per task.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`. One file per task:
`fig7_forgetting_<task>`, and `fig7_forgetting.md`, each configuration's memory span.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnmem import analysis, figures

CAPTION = """
The held-out metric of the trained networks against lag, the number of steps between the
information and the readout (adding: the squared error grouped by the first marker's position
p, lag T - 1 - p; copy: recall accuracy, lag T + 10 for every symbol), every T of the sweep
pooled (each run's items weighted equally), mean over seeds with a min-max band. Dotted: the
solved threshold; dashed: the memoryless value. Memory span: the largest lag up to which every
measured lag meets the solved threshold (0: not even the shortest one). Lag is counted for the
forward readout; a bidirectional network's backward direction meets the first marker after
only p steps, so its panels show what the whole network recalls at that forward lag (the
records keep p for other views).
"""


def spans(pooled: pd.DataFrame) -> dict[tuple[str, str, int, bool], int]:
    """The memory span of each configuration's mean pooled curve."""
    return {(task, cell, int(depth), bool(bidirectional)): analysis.pooled_span(task, group)
            for (task, cell, depth, bidirectional), group in pooled.groupby(
                ["task", "cell", "depth", "bidirectional"], sort=True)}


def findings(pooled: pd.DataFrame, found: dict[tuple[str, str, int, bool], int]) -> list[str]:
    """Markdown lines: per task and configuration, the lags measured and the memory span."""
    if not found:
        return ["No finished run has a forgetting curve."]
    lines = ["| task | cell | depth | direction | lags measured | memory span | "
             "first lag that fails |", "|---|---|---|---|---|---|---|"]
    for (task, cell, depth, bidirectional), span in found.items():
        group = analysis.select(pooled, task=task, cell=cell, depth=depth,
                                bidirectional=bidirectional)
        lags, mean, *_ = analysis.range_band(group, "lag", "value")
        kind = analysis.metric_spec(task)
        fails = [int(lag) for lag, value in zip(lags, mean, strict=True)
                 if not (value >= kind.threshold if kind.higher_is_better
                         else value < kind.threshold)]
        lines.append(f"| {task} | {analysis.cell_label(cell)} | {depth} | "
                     f"{'bi' if bidirectional else 'uni'} | {int(lags.min())}-{int(lags.max())} "
                     f"| {span} | {fails[0] if fails else 'none'} |")
    return lines


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    curves = analysis.forgetting_curves(runs)
    pooled = analysis.pooled_over_lengths(curves)
    found = spans(pooled)
    no_curve = sorted(set(analysis.finished(runs)["run"])
                      - set(analysis.finished(runs).merge(
                          curves[["task", "cell", "depth", "bidirectional", "seq_len", "seed"]]
                          .drop_duplicates(), how="inner")["run"]))
    paths: list[Path] = []
    for task in analysis.tasks_of(runs):
        mine = pooled[pooled["task"] == task]
        notes = analysis.gap_notes(analysis.gaps_for(runs, task=task)) + analysis.note_lines(
            "not shown, no forgetting curve", [r for r in no_curve if r.startswith(f"{task}/")])
        fig = figures.forgetting(
            mine, task, {key[1:]: span for key, span in found.items() if key[0] == task},
            notes=notes, title=f"Forgetting: {task}, every T pooled")
        paths += figures.save(fig, out_dir / f"fig7_forgetting_{task}")
        figures.close(fig)
    text = out_dir / "fig7_forgetting.md"
    text.write_text("\n".join(findings(pooled, found)) + "\n")
    return [*paths, text]
