"""Figure 4: depth and direction, item-memory capacity and span, and longest length solved.

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
Each cell x (depth, direction) of the grid, at the task's longest T, mean ± sample std over the
finished seeds (one seed: its value). Top: item memory after training in the task's headline
view (`rnnmem.measures.item_memory`; adding: intervention, (yhat' - yhat)/(u - v) when one
marked value is changed; copy: choice, how often the argmax recall follows a swapped symbol,
chance removed), on a stratified item set with at least `probe.items_per_lag` (30) items at
every lag. Colour and first line: the capacity as a fraction of the measured lags, the mean over
lags of the memory clipped to [0, 1] (threshold-free: 1 perfect recall at every lag, 0 a
memoryless net). Second line: the span, the largest lag up to which memory stays above half of
perfect with 95% confidence, allowing one weak lag per ten and never a forgotten one (mean over
the same seeds). Each column names its own lags: a bidirectional adding net reads every item
from its nearer readout, within (T - 1) // 2 steps, so its span is bounded there, not at T - 1;
copy recalls every symbol T + 10 steps later in every column. For records that predate the
capacity: the item-memory span alone, memory coverage or the memory horizon. Bottom: the longest
T that most completed seeds solved ('none': no T). Grey: no finished run, and why; '*': some
runs of that configuration failed, diverged or left no record (listed under the figure).
"""


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    notes = gap_notes(gaps_for(runs))
    fig = depth_direction(depth_direction_grid(runs), notes=notes, title="Depth and direction")
    paths = drawing.save(fig, out_dir / "fig4_depth_direction")
    drawing.close(fig)
    return paths
