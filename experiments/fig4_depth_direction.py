"""Figure 4: depth and direction, item-memory span and longest length solved per configuration.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnmem.reporting.figures import drawing
from rnnmem.reporting.figures.capacity import depth_direction
from rnnmem.reporting.gaps import gap_notes, gaps_for
from rnnmem.reporting.outcomes import depth_direction_grid

CAPTION = """
Each cell x (depth, direction) of the grid. Top: the item-memory span after training
(`rnnmem.measures.item_memory`, the intervention view on the held-out test set): the largest
lag l such that at every measured lag up to l the network's output still moves with the item by
more than half of perfect recall (95% interval), at the task's longest T (mean +- std over finished
seeds); absolute, so a network at the memoryless baseline scores 0. For records that predate
it, memory coverage or the memory horizon. Bottom: the longest T that most
completed seeds solved ('none': no T). Grey: no finished run, and why; '*': some runs of that
configuration failed, diverged or left no record (listed under the figure).
"""


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    notes = gap_notes(gaps_for(runs))
    fig = depth_direction(depth_direction_grid(runs), notes=notes, title="Depth and direction")
    paths = drawing.save(fig, out_dir / "fig4_depth_direction")
    drawing.close(fig)
    return paths
