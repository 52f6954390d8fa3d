"""Figure 10: memory against recurrent state size, per cell: the task's metric and item
memory's capacity from its three views, against the state elements per layer.

Fed by `make sweep EXPERIMENT=recall` (the modern recurrences and recall tasks at matched
parameters, whose state sizes differ by cell) or any sweep whose records state their state size;
redrawn by `make figures SWEEP=<sweep dir>`. Drawn for the grid's shallowest unidirectional
networks, at each task's longest T.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from rnnmem.reporting.figures import drawing
from rnnmem.reporting.figures.state_size import memory_and_state
from rnnmem.reporting.gaps import gap_notes, gaps_for
from rnnmem.reporting.labels import cell_label, variant_label
from rnnmem.reporting.selection import headline_variant, longest_lengths, select
from rnnmem.reporting.state_size import state_points, trends
from rnnmem.reporting.tables import markdown_table

CAPTION = """
Zoology (Arora et al. 2023) plots recall against the size of a model's recurrent state. Here,
per task at its longest T, each cell's held-out metric (top row) and item memory's capacity
(the share of the measured lags remembered, `rnnmem.measures.item_memory`) from the probe
view, the end view and storage (rows below) against the recurrent state elements per layer the
network carried (LSTM 2H, GRU H, LRU 2N, S6 H x N, ...). Marker: mean over finished seeds; bar:
smallest to largest seed. At matched parameters the cells differ in state size by design; the
.md gives Spearman's rank correlation of each quantity with state size over the points.
"""


def findings(points: pd.DataFrame) -> list[str]:
    """The points as a table per task, and the rank correlations with state size."""
    if points.empty:
        return ["No finished run states its recurrent state size."]
    table = points.assign(cell=points["cell"].map(cell_label), value=[
        f"{m:.3g} [{lo:.3g}, {hi:.3g}]" for m, lo, hi in
        zip(points["mean"], points["low"], points["high"], strict=True)])
    wide = table.pivot_table(index=["task", "cell", "state_elements", "n_params", "seeds"],
                             columns="quantity", values="value", aggfunc="first", sort=False)
    lines = ["Per task at its longest T: the mean over seeds [smallest, largest seed].", "",
             markdown_table(wide.reset_index().fillna("—")).rstrip(), "",
             "Spearman's rank correlation with state size (over the points above; none from "
             "fewer than four):", ""]
    rho = trends(points).assign(rho=lambda f: [f"{r:+.2f}" if math.isfinite(r) else "—"
                                               for r in f["rho"]])
    return [*lines, markdown_table(rho).rstrip()]


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    depth, bidirectional = headline_variant(runs)
    variant = select(runs, depth=depth, bidirectional=bidirectional)
    points = state_points(variant)
    notes = gap_notes(gaps_for(runs, longest_lengths(variant), depth=depth,
                               bidirectional=bidirectional))
    fig = memory_and_state(points, variant, notes=notes, title=(
        f"Memory against state size: {variant_label(depth, bidirectional)}"))
    paths = drawing.save(fig, out_dir / "fig10_memory_and_state")
    drawing.close(fig)
    report = out_dir / "fig10_memory_and_state.md"
    report.write_text("\n".join(findings(points)) + "\n")
    return [*paths, report]
