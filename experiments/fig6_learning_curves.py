"""Figure 6: learning curves per cell at the longest length.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`. Drawn for the grid's shallowest
unidirectional networks at each task's longest T.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnmem import analysis, figures
from rnnmem.record import read_record

CAPTION = """
Training loss (thin) and validation loss (markers; mean over finished seeds, band min to max)
against training step, at each task's longest T. Dashed: the memoryless baseline, the loss of
the best prediction that ignores the inputs; a curve that stays on it has learned nothing
about memory.
"""


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    depth, bidirectional = analysis.headline_variant(runs)
    variant = analysis.select(runs, depth=depth, bidirectional=bidirectional)
    lengths = analysis.longest_lengths(variant)
    frames = []
    for task, length in lengths.items():
        done = analysis.finished(analysis.select(variant, task=task, seq_len=length))
        for run in done.itertuples():
            curves = analysis.loss_curves(read_record(Path(run.run_dir)).get("curves") or {})
            frames.append(curves.assign(task=task, seq_len=length, cell=run.cell, seed=run.seed))
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["task", "seq_len", "cell", "seed", "split", "step", "loss"])
    baselines = {task: analysis.recorded_task(variant, task, length).baseline
                 for task, length in lengths.items()}
    notes = analysis.gap_notes(
        analysis.gaps_for(runs, lengths, depth=depth, bidirectional=bidirectional))
    fig = figures.learning_curves(
        curves, baselines, list(lengths), notes=notes,
        title=f"Learning curves: {analysis.variant_label(depth, bidirectional)}")
    paths = figures.save(fig, out_dir / "fig6_learning_curves")
    figures.close(fig)
    return paths
