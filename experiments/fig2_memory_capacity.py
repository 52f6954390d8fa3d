"""Figure 2: memory capacity, the final held-out metric against sequence length.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`. Drawn for the grid's shallowest
unidirectional networks; depth and direction are Figure 4 and Table 1.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnmem.reporting.figures import drawing
from rnnmem.reporting.figures.capacity import memory_capacity
from rnnmem.reporting.gaps import gap_notes, gaps_for
from rnnmem.reporting.labels import variant_label
from rnnmem.reporting.selection import headline_variant, select

CAPTION = """
Held-out metric of the trained networks against T (adding: test MSE, log scale; copy: recall
accuracy over the 10 recall positions). Line: mean over finished seeds; band: min to max over
seeds; filled marker: solved (MSE < 0.01, accuracy >= 0.99) by most completed seeds. Dashed:
what a network without memory scores; dotted: the solved threshold; x at the foot: no finished
run at that T.
"""


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    depth, bidirectional = headline_variant(runs)
    variant = select(runs, depth=depth, bidirectional=bidirectional)
    notes = gap_notes(gaps_for(runs, depth=depth, bidirectional=bidirectional))
    fig = memory_capacity(variant, notes=notes,
                          title=f"Memory capacity: {variant_label(depth, bidirectional)}")
    paths = drawing.save(fig, out_dir / "fig2_memory_capacity")
    drawing.close(fig)
    return paths
