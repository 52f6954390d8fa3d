"""Figure 6: learning curves per cell at the longest length.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`. Drawn for the grid's shallowest
unidirectional networks at each task's longest T.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnmem.reporting.curves import loss_curves, memoryless_baselines
from rnnmem.reporting.figures import drawing
from rnnmem.reporting.figures.dynamics import learning_curves
from rnnmem.reporting.gaps import gap_notes, gaps_for
from rnnmem.reporting.labels import recorded_task, variant_label
from rnnmem.reporting.selection import finished, headline_variant, longest_lengths, select
from rnnmem.rundir.record import read_record

CAPTION = """
Training loss (thin) and validation loss (markers; mean over finished seeds, band min to max)
against training step, at each task's longest T. Dashed: the memoryless baselines the records
state (`baselines`), each named for what its predictor ignores. 'inputs ignored': the loss of
the best prediction that sees no input (adding: always 1, MSE 1/6; copy with the fixed delay:
blanks, then a uniform guess over the 8 symbols at the ten recall steps, 10 ln 8 / (T + 20);
copy with `task.delay=variable`: the targets' own distribution at each step, since the recall's
place then depends on the input). 'recall position known, symbols ignored' (variable-delay copy
only): a predictor that reads where the recall is but guesses the symbols, 10 ln 8 / (T + 20),
lower. A curve that stays on a baseline has learned nothing beyond what that predictor knows.
"""


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    depth, bidirectional = headline_variant(runs)
    variant = select(runs, depth=depth, bidirectional=bidirectional)
    lengths = longest_lengths(variant)
    frames, baselines = [], {}
    for task, length in lengths.items():
        done = finished(select(variant, task=task, seq_len=length))
        stated: dict[str, float] = {}
        for run in done.itertuples():
            record = read_record(Path(run.run_dir))
            curves = loss_curves(record.get("curves") or {})
            frames.append(curves.assign(task=task, seq_len=length, cell=run.cell, seed=run.seed))
            stated = stated or memoryless_baselines(record)
        baselines[task] = stated or dict(recorded_task(variant, task, length).baselines)
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["task", "seq_len", "cell", "seed", "split", "step", "loss"])
    notes = gap_notes(gaps_for(runs, lengths, depth=depth, bidirectional=bidirectional))
    fig = learning_curves(
        curves, baselines, list(lengths), notes=notes,
        title=f"Learning curves: {variant_label(depth, bidirectional)}")
    paths = drawing.save(fig, out_dir / "fig6_learning_curves")
    drawing.close(fig)
    return paths
