"""Figure 3: gradient flow over training, training step x timestep heatmaps per cell.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`. Drawn for the grid's shallowest
unidirectional networks at each task's longest T, geometric mean over the finished seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rnnmem.reporting.figures import drawing
from rnnmem.reporting.figures.gradients import GradMap, gradient_flow
from rnnmem.reporting.gaps import gap_notes, gaps_for, why_empty
from rnnmem.reporting.labels import ordered_cells, recorded_task, variant_label
from rnnmem.reporting.selection import finished, headline_variant, longest_lengths, select
from rnnmem.rundir.record import read_probe_arrays

CAPTION = """
||dL/dh_t|| of the bottom layer (log colour, one scale per panel) at every probe during
training (rows) and every timestep (columns); the dashed white line marks where the loss reads
the memory; geometric mean over the finished seeds (the panel title says how many). Gradient
that reaches the early timesteps (left) is what lets a network learn to store the inputs there.
"""


def geometric_mean(curves: list[np.ndarray]) -> np.ndarray:
    """Elementwise geometric mean over seeds; 0 wherever a seed's g_t is exactly 0."""
    stack = np.stack(curves)
    positive = np.where(stack > 0, stack, 1.0)
    return np.where((stack > 0).all(axis=0), np.exp(np.log(positive).mean(axis=0)), 0.0)


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    depth, bidirectional = headline_variant(runs)
    variant = select(runs, depth=depth, bidirectional=bidirectional)
    lengths = longest_lengths(variant)
    cells = ordered_cells(variant["cell"])
    maps: dict[tuple[str, str], GradMap | str] = {}
    for task, length in lengths.items():
        at = select(variant, task=task, seq_len=length)
        for cell in cells:
            config = select(at, cell=cell)
            done = finished(config)
            norms = [arrays for arrays in (read_probe_arrays(Path(d)) for d in done["run_dir"])
                     if "h_norm" in arrays]
            if not norms:
                reason = "no probe data" if len(done) else why_empty(config)
                maps[(task, cell)] = f"T = {length}:\n{reason}"
                continue
            steps = norms[0]["steps"]
            same = [a["h_norm"][:, 0, 0] for a in norms if np.array_equal(a["steps"], steps)]
            maps[(task, cell)] = GradMap(
                steps, geometric_mean(same), recorded_task(at, task, length).loss_anchor,
                f"T = {length}, " + (f"geom. mean of {len(same)} seeds" if len(same) > 1
                                     else f"seed {int(done['seed'].iloc[0])}"))
    notes = gap_notes(gaps_for(runs, lengths, depth=depth, bidirectional=bidirectional))
    fig = gradient_flow(
        maps, list(lengths), cells, notes=notes,
        title=f"Gradient flow over training: {variant_label(depth, bidirectional)}")
    paths = drawing.save(fig, out_dir / "fig3_gradient_flow")
    drawing.close(fig)
    return paths
