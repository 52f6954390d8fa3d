"""Figure 4: depth and direction, memory coverage and longest length solved per configuration.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnmem import analysis, figures

CAPTION = """
Each cell x (depth, direction) of the grid. Top: memory coverage after training, the fraction
of the task's information-bearing input steps at which the input sensitivity ||dL/dx_t|| is
still >= 1% of its maximum (the same meaning for every depth and direction), at the task's
longest T (mean +- std over finished seeds); for records that predate it, the memory horizon
of the bottom layer's forward direction. Bottom: the longest T that most
completed seeds solved ('none': no T). Grey: no finished run, and why; '*': some runs of that
configuration failed, diverged or left no record (listed under the figure).
"""


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    notes = analysis.gap_notes(analysis.gaps_for(runs))
    fig = figures.depth_direction(runs, notes=notes, title="Depth and direction")
    paths = figures.save(fig, out_dir / "fig4_depth_direction")
    figures.close(fig)
    return paths
