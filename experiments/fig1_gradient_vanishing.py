"""Figure 1: gradient vanishing, g_t against distance from the loss.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`. One file per (depth, direction) of
the grid: `fig1_gradient_vanishing_d<depth>_<uni|bi>`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnmem.reporting.curves import distance_curves, sensitivity_curves
from rnnmem.reporting.figures import drawing
from rnnmem.reporting.figures.gradients import gradient_vanishing
from rnnmem.reporting.gaps import gap_notes, gaps_for, note_lines
from rnnmem.reporting.labels import recorded_task, variant_label, variant_slug
from rnnmem.reporting.selection import finished, headline_variant, longest_lengths, select, variants
from rnnmem.rundir.record import read_probe_arrays

CAPTION = """
Exact ||dL/dh_t|| of the bottom layer against the distance from where the loss reads the
memory (adding: the last step, and t = 0 for the backward direction; copy: the first recall
position, after which a backward direction has only 10 steps), on the held-out probe batch,
at each task's longest T: left at initialisation, right after training. Forward direction
solid, backward direction (bidirectional nets) dashed; geometric mean over seeds with a
+-1 std band of log10 g. A straight falling line is exponential vanishing; its slope is the
decay rate per step. A state with no path to the loss has g_t = 0 exactly, which a log scale
cannot show: the line has a gap there. Right: the input sensitivity s_t = ||dL/dx_t|| (RMS
over the probe batch) at every timestep t, after training (solid, +-1 std band of log10 s
over seeds) and at initialisation (dotted): how strongly the loss feels the input at each
step, for any depth and direction; its share of the information-bearing steps within 1% of
the maximum is the memory coverage.
"""


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    paths: list[Path] = []
    for depth, bidirectional in variants(runs) or [headline_variant(runs)]:
        variant = select(runs, depth=depth, bidirectional=bidirectional)
        lengths = longest_lengths(variant)
        frames, profiles, no_probe = [], [], []
        for task, length in lengths.items():
            spec = recorded_task(variant, task, length)
            done = finished(select(variant, task=task, seq_len=length))
            for run in done.itertuples():
                arrays = read_probe_arrays(Path(run.run_dir))
                if "h_norm" not in arrays:
                    no_probe.append(run.run)
                    continue
                frames.append(distance_curves(arrays, spec).assign(
                    task=task, seq_len=length, cell=run.cell, seed=run.seed))
                profiles.append(sensitivity_curves(arrays).assign(
                    task=task, seq_len=length, cell=run.cell, seed=run.seed))
        curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["task", "seq_len", "cell", "seed", "stage", "step", "direction",
                     "distance", "g"])
        gaps = gaps_for(runs, lengths, depth=depth, bidirectional=bidirectional)
        notes = gap_notes(gaps) + note_lines("not shown, no probe data", sorted(no_probe))
        sensitivity = pd.concat(profiles, ignore_index=True) if profiles else None
        fig = gradient_vanishing(
            curves, list(lengths), notes=notes, sensitivity=sensitivity,
            title=f"Gradient vanishing in the bottom layer: {variant_label(depth, bidirectional)}")
        stem = f"fig1_gradient_vanishing_{variant_slug(depth, bidirectional)}"
        paths += drawing.save(fig, out_dir / stem)
        drawing.close(fig)
    return paths
