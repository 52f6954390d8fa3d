"""Exact per-timestep gradient norms and gate dynamics: how much gradient survives through time.

For a fixed probe batch (x, y) and the current weights, the probe runs the unrolled path of the
network (`RecurrentNet.unrolled`, same parameters as the fused module that trains) and takes the
total derivatives of the task's memory loss L (`MemoryTask.memory_loss`) with respect to every
hidden state:

    g_t = || dL / dh_t ||_F        (Frobenius norm over the batch and the hidden units)

for every timestep t, layer and direction, and || dL / dc_t ||_F for LSTM cell states. These are
total derivatives: through all later steps and all layers above (Arjovsky et al. 2016, fig. of
||dC/dh_t|| over t). The gradient that autograd leaves on a fused module's output holds only
the direct part, which is why the probe needs the unrolled path.

Distance from the loss: the forward direction is measured back from `task.loss_anchor`
(adding: the last step; copy: the first recall position), d = anchor - t; the backward
direction, which reads the sequence in reverse, forward from `task.backward_anchor` (adding:
t = 0, its readout; copy: the first recall position, after which it holds only 10 steps),
d = t - anchor.
Per probe, for each layer and direction:

    log10_grad_ratio = log10(g at the largest distance / g at distance 0)
    decay_rate       = -slope of the least-squares line through (d, ln g_d)   (per step)
    memory_horizon   = max { d : g_d / max_d g_d >= threshold }

The headline numbers (`load_run`) are those of the bottom layer's forward direction, where the
inputs enter. The probe never changes training: no optimiser step, no gradient left on the
parameters (only the states are differentiated), no random numbers drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rnnmem.models import RecurrentNet
from rnnmem.tasks import MemoryTask

DIRECTIONS = ("fwd", "bwd")
TINY = 1e-38  # below float32's smallest normal: an exactly vanished gradient counts as this


@dataclass
class ProbeResult:
    """One probe of the current weights; arrays are indexed [layer, direction, ..., t]."""

    step: int
    loss: float
    h_norm: np.ndarray            # (L, D, T)
    c_norm: np.ndarray | None     # (L, D, T), LSTM only
    gate_names: tuple[str, ...]   # e.g. ("input", "forget", "output"); () for the vanilla RNN
    gate_mean: np.ndarray | None  # (L, D, G, T): mean activation over batch and units
    gate_saturated: np.ndarray | None  # (L, D, G, T): fraction > s or < 1 - s


def probe(
    net: RecurrentNet,
    task: MemoryTask,
    x: Tensor,
    y: Tensor,
    step: int = 0,
    saturation: float = 0.95,
) -> ProbeResult:
    """Exact ||dL/dh_t|| (and ||dL/dc_t||, gate statistics) of `net` on the batch (x, y)."""
    with torch.enable_grad(), torch.autocast(x.device.type, enabled=False):
        out = net.unrolled(x, gates=True)
        loss = task.memory_loss(out.output, y)
        layers = [out.h] if out.c is None else [out.h, out.c]
        states = [s for kind in layers for layer in kind for direction in layer for s in direction]
        grads = torch.autograd.grad(loss, states)
    norms = torch.stack(grads).flatten(1).norm(dim=1)  # one per state, in the order above
    norms = norms.reshape(len(layers), net.depth, -1, task.length).double().cpu().numpy()
    gate_names: tuple[str, ...] = ()
    gate_mean = gate_saturated = None
    if out.gates is not None and out.gates[0][0]:
        gate_names = tuple(out.gates[0][0])
        acts = torch.stack(
            [torch.stack([torch.stack([d[n] for n in gate_names]) for d in layer])
             for layer in out.gates]
        ).detach()  # (L, D, G, T, B, H)
        saturated = ((acts > saturation) | (acts < 1 - saturation)).float()
        gate_mean = acts.mean(dim=(-2, -1)).double().cpu().numpy()
        gate_saturated = saturated.mean(dim=(-2, -1)).double().cpu().numpy()
    return ProbeResult(
        step=step,
        loss=float(loss.detach()),
        h_norm=norms[0],
        c_norm=norms[1] if out.c is not None else None,
        gate_names=gate_names,
        gate_mean=gate_mean,
        gate_saturated=gate_saturated,
    )


def by_distance(g: np.ndarray, task: MemoryTask, direction: str) -> np.ndarray:
    """g_t re-indexed by distance from the loss, d = 0, 1, ... (see the module docstring)."""
    if direction == "fwd":
        return g[: task.loss_anchor + 1][::-1]
    return g[task.backward_anchor :]


def summarise(g_by_distance: np.ndarray, threshold: float = 1e-2) -> dict[str, float]:
    """log10_grad_ratio, decay_rate and memory_horizon of one g_d curve (d = 0, 1, ...).

    All NaN when g is not finite (a diverged network has no gradient picture)."""
    g = np.asarray(g_by_distance, dtype=np.float64)
    if not np.isfinite(g).all():
        return dict.fromkeys(("log10_grad_ratio", "decay_rate", "memory_horizon"), float("nan"))
    g = np.maximum(g, TINY)
    d = np.arange(len(g), dtype=np.float64)
    slope = np.polyfit(d, np.log(g), 1)[0] if len(g) > 1 else 0.0
    above = np.flatnonzero(g / g.max() >= threshold)
    return {
        "log10_grad_ratio": float(np.log10(g[-1] / g[0])),
        "decay_rate": float(-slope),
        "memory_horizon": int(above.max()),
    }


def summarise_all(
    h_norm: np.ndarray, task: MemoryTask, threshold: float = 1e-2
) -> dict[str, np.ndarray]:
    """Summaries of every layer and direction of one probe: name -> (L, D) array."""
    depth, directions, _ = h_norm.shape
    table = {
        name: np.zeros((depth, directions))
        for name in ("log10_grad_ratio", "decay_rate", "memory_horizon")
    }
    for layer in range(depth):
        for k in range(directions):
            curve = by_distance(h_norm[layer, k], task, DIRECTIONS[k])
            for name, value in summarise(curve, threshold).items():
                table[name][layer, k] = value
    return table
