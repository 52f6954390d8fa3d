"""Figure 5: gate dynamics, the LSTM forget gate and the GRU update gate per timestep.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`. Drawn for the grid's shallowest
unidirectional networks at each task's longest T.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnmem.reporting.curves import gate_curves
from rnnmem.reporting.figures import drawing
from rnnmem.reporting.figures.dynamics import gate_dynamics
from rnnmem.reporting.gaps import gap_notes, gaps_for, note_lines
from rnnmem.reporting.labels import MEMORY_GATES, recorded_task, variant_label
from rnnmem.reporting.selection import finished, headline_variant, longest_lengths, select
from rnnmem.rundir.record import read_probe_arrays

CAPTION = """
Mean activation, over the probe batch and the hidden units, of the gate that decides how much
of the previous state survives a step: the LSTM forget gate f_t and the GRU update gate z_t
(h_t = z_t h_{t-1} + (1 - z_t) n_t), bottom layer, per timestep. Near 1 the state is carried
forward almost unchanged, the gated cells' route around vanishing gradients. Solid: after
training (band: min to max over seeds); dotted: at initialisation.
"""


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    depth, bidirectional = headline_variant(runs)
    variant = select(runs, depth=depth, bidirectional=bidirectional)
    gated = variant[variant["cell"].isin(list(MEMORY_GATES))]
    lengths = longest_lengths(variant)
    frames, no_probe = [], []
    for task, length in lengths.items():
        anchor = recorded_task(variant, task, length).loss_anchor
        done = finished(select(gated, task=task, seq_len=length))
        for run in done.itertuples():
            curves = gate_curves(read_probe_arrays(Path(run.run_dir)))
            if curves.empty:
                no_probe.append(run.run)
                continue
            frames.append(curves.assign(task=task, seq_len=length, anchor=anchor,
                                        cell=run.cell, seed=run.seed))
    gates = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["task", "seq_len", "anchor", "cell", "seed", "stage", "step", "gate", "t",
                 "value"])
    gaps = gaps_for(runs, lengths, depth=depth, bidirectional=bidirectional)
    gaps = gaps[gaps["cell"].isin(list(MEMORY_GATES)) | gaps["cell"].isna()]
    notes = gap_notes(gaps) + note_lines("not shown, no gate data", sorted(no_probe))
    fig = gate_dynamics(
        gates, list(lengths), notes=notes,
        title=f"Gate dynamics: {variant_label(depth, bidirectional)}")
    paths = drawing.save(fig, out_dir / "fig5_gate_dynamics")
    drawing.close(fig)
    return paths
