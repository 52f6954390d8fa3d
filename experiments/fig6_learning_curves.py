"""Figure 6: learning curves per cell at the longest length.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`. Drawn for the grid's shallowest
unidirectional networks at each task's longest T.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnmem.reporting.curves import loss_curves
from rnnmem.reporting.figures import drawing
from rnnmem.reporting.figures.dynamics import learning_curves
from rnnmem.reporting.gaps import gap_notes, gaps_for
from rnnmem.reporting.labels import recorded_task, variant_label
from rnnmem.reporting.selection import finished, headline_variant, longest_lengths, select
from rnnmem.rundir.record import read_record

CAPTION = """
Training loss (thin) and validation loss (markers; mean over finished seeds, band min to max)
against training step, at each task's longest T. Dashed: the memoryless baseline, the loss of
the best prediction that ignores the inputs; a curve that stays on it has learned nothing
about memory.
"""


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    depth, bidirectional = headline_variant(runs)
    variant = select(runs, depth=depth, bidirectional=bidirectional)
    lengths = longest_lengths(variant)
    frames = []
    for task, length in lengths.items():
        done = finished(select(variant, task=task, seq_len=length))
        for run in done.itertuples():
            curves = loss_curves(read_record(Path(run.run_dir)).get("curves") or {})
            frames.append(curves.assign(task=task, seq_len=length, cell=run.cell, seed=run.seed))
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["task", "seq_len", "cell", "seed", "split", "step", "loss"])
    baselines = {task: recorded_task(variant, task, length).baseline
                 for task, length in lengths.items()}
    notes = gap_notes(gaps_for(runs, lengths, depth=depth, bidirectional=bidirectional))
    fig = learning_curves(
        curves, baselines, list(lengths), notes=notes,
        title=f"Learning curves: {variant_label(depth, bidirectional)}")
    paths = drawing.save(fig, out_dir / "fig6_learning_curves")
    drawing.close(fig)
    return paths
