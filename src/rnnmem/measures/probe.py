"""Exact memory measures of a network: input sensitivity, per-state gradient norms, gate dynamics.

For a fixed probe batch (x, y) of B sequences and the current weights, the probe runs the
unrolled path of a float64 copy of the network (`RecurrentNet.unrolled`: the same parameters as
the fused module that trains, stepped so that every state is a tensor autograd can reach) and
takes total derivatives of the task's memory loss L = mean_b l_b (`MemoryTask.memory_loss`).
Every norm is per sequence, the root mean square over the batch of one sequence's gradient:

    s_t = sqrt( mean_b || dl_b / dx_t^b ||^2 )     input sensitivity, one curve per probe
    g_t = sqrt( mean_b || dl_b / dh_t^b ||^2 )     per layer and direction (and c_t for LSTMs)

so that no number depends on the probe batch size (sqrt(B) times the Frobenius norm of dL/dh_t
over the batch). These are total derivatives, through all later steps and all layers above
(Arjovsky et al. 2016, fig. of ||dC/dh_t|| over t); the gradient that autograd leaves on a
fused module's output holds only the direct part, which is why the probe needs the unrolled
path. Taken in float64, and with no element ever squared at its own scale, they are exact down
to float64's smallest normal number, 2.2e-308 (`FLOOR`), far below where any float32 gradient
has vanished to 0. A naive sum of squares would underflow once a norm drops below about
1.5e-154 (the square root of 2.2e-308); instead every norm is accumulated as a pair
(m, q) = (max |g_i|, sum (g_i / m)^2) and read as m sqrt(q) (`ScaledSquares`): the scaled
squares lie in [0, 1] with at least one equal to 1, so none underflows to a wrong value. A norm
below 2.2e-308 is made of subnormal gradient elements, which hold fewer significant digits:
such values are flagged (`grad_ratio_is_bound`), never trusted. The batch is differentiated in
chunks of `chunk_size` sequences: each sequence's gradient depends on that sequence alone, and
the loss differentiated is the chunk's sum of per-sequence losses (not its mean, which would
divide every gradient by the chunk size first), so the chunks' pairs combine exactly,
(m, q) + (m', q') = (M, q (m/M)^2 + q' (m'/M)^2) with M = max(m, m'), and the probe's memory
is that of one chunk.

Headline, the same question for every cell, depth and direction ("how much can the loss still
feel the input at step t?"):

    memory_coverage   = |{ t in I : s_t >= threshold * max_{t in I} s_t }| / |I|
    sensitivity_scale = max_{t in I} s_t

with I the task's information-bearing steps (`MemoryTask.information_steps`; adding: all T,
copy: the 10 symbol steps); coverage is 0 for an identically zero s. Coverage is relative: a
network that feels every input equally weakly scores 1, which is why its scale goes with it.
It is not an absolute memory measure, and s_t, the loss's sensitivity, shrinks as a network
becomes perfect (it is weighted by each sequence's residual): what the network remembers, on
a scale where 1 is perfect recall, is the item memory (`rnnmem.measures.item_memory`).

Detailed picture, per layer and direction, by distance d from where the loss reads that
direction: forward, d = anchor - t back from `task.loss_anchor` (adding: the last step; copy:
the first recall position); backward, d = t - anchor forward from `task.backward_anchor`
(adding: t = 0, its readout; copy: the first recall position). The distance counts steps along
the direction's own chain. In a deep or bidirectional net a state also reaches the readout
through the layer above's other direction (a bottom-layer forward state at t = 0 is one step
from the adding readout through the backward direction above), so there a large distance with
a large g does not mean a long memory: that is what memory_coverage is for.

    log10_grad_ratio = log10(g at the largest distance / g at distance 0)
    decay_rate       = -slope of the least-squares line through (d, ln g_d), fitted over the
                       representable values (g_d >= float64's smallest normal number)
    memory_horizon   = max { d : g_d / max_d g_d >= threshold }   (0 for a zero curve)

When g at the largest distance is below float64's smallest normal number (the gradient really
left float64's normal range: nothing above it underflows), log10_grad_ratio is computed from
that number instead and is an upper bound (`grad_ratio_is_bound`). The headline
`memory_horizon` of a run (`load_run`) is the bottom layer's forward direction. The probe never
changes training: the network that trains is not touched (no gradient on its parameters, no
random numbers drawn).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rnnmem.models import RecurrentNet, denormals
from rnnmem.tasks import MemoryTask

DIRECTIONS = ("fwd", "bwd")
FLOOR = float(np.finfo(np.float64).tiny)  # smallest normal float64: below it, not representable
SUMMARIES = ("log10_grad_ratio", "decay_rate", "memory_horizon", "grad_ratio_is_bound")


@dataclass
class ProbeResult:
    """One probe of the current weights; arrays are indexed [layer, direction, ..., t]."""

    step: int
    loss: float
    x_norm: np.ndarray            # (T,): input sensitivity s_t
    h_norm: np.ndarray            # (L, D, T)
    c_norm: np.ndarray | None     # (L, D, T), LSTM only
    gate_names: tuple[str, ...]   # e.g. ("input", "forget", "output"); () for the vanilla RNN
    gate_mean: np.ndarray | None  # (L, D, G, T): mean activation over batch and units
    gate_saturated: np.ndarray | None  # (L, D, G, T): fraction > s or < 1 - s
    # (5, K): the probe view of item memory per lag 0 .. K - 1 (rows: memory, stderr, count,
    # low, high; `rnnmem.measures.item_memory`), added by `GradientProbe` where the task states
    # items
    item_memory: np.ndarray | None = None
    item_view: str | None = None  # which view: gradient (value items) or probability (symbols)


def twin(net: RecurrentNet, dtype: torch.dtype) -> RecurrentNet:
    """A copy of `net` in `dtype` on the same device whose parameters need no gradient."""
    copied = copy.deepcopy(net).to(dtype)
    copied.requires_grad_(False)
    return copied


def float64_twin(net: RecurrentNet) -> RecurrentNet:
    """A float64 copy of `net` on the same device whose parameters need no gradient."""
    return twin(net, torch.float64)


@denormals.exact()
def probe(
    net: RecurrentNet,
    task: MemoryTask,
    x: Tensor,
    y: Tensor,
    step: int = 0,
    saturation: float = 0.95,
    chunk_size: int = 32,
) -> ProbeResult:
    """Exact s_t, g_t (and ||dL/dc_t||, gate statistics) of `net` on the batch (x, y), in float64.

    `task.memory_loss` must be a mean over the sequences of the batch (the chunks rely on it).
    Subnormal numbers are never flushed here, whatever the caller set
    (`rnnmem.models.denormals`)."""
    twin = float64_twin(net)
    batch, length = x.shape[0], task.length
    squares: ScaledSquares | None = None  # one entry per state: ||dl_b/dh^b|| over the batch
    x_squares: ScaledSquares | None = None  # one entry per step t
    gates = GateStatistics(saturation)
    loss_sum = 0.0
    with torch.enable_grad(), torch.autocast(x.device.type, enabled=False):
        for start in range(0, batch, chunk_size):
            xc = x[start : start + chunk_size].double().requires_grad_(True)
            yc = y[start : start + chunk_size]
            yc = yc.double() if yc.is_floating_point() else yc
            n = len(xc)
            out = twin.unrolled(xc, gates=gates.wanted(twin))
            if out.gates is not None:  # reduce now and let go, so backward frees them as it goes
                gates.add(out.gates)
                out.gates = None
            loss = task.memory_loss(out.output, yc)
            kinds = [out.h] if out.c is None else [out.h, out.c]
            states = [s for kind in kinds for layer in kind for direction in layer
                      for s in direction]
            # n L_c = sum_b l_b: its gradient w.r.t. h^b is dl_b/dh^b itself, no 1/n scaling
            grads = torch.autograd.grad(loss * n, [*states, xc])
            chunk = ScaledSquares.of_each(grads[:-1])
            squares = chunk if squares is None else squares.add(chunk)
            x_chunk = ScaledSquares.of(grads[-1].transpose(0, 1).flatten(1))  # (T, n * I)
            x_squares = x_chunk if x_squares is None else x_squares.add(x_chunk)
            loss_sum += float(loss.detach()) * n
    norms = squares.rms(batch).reshape(len(kinds), twin.depth, -1, length).cpu().numpy()
    return ProbeResult(
        step=step,
        loss=loss_sum / batch,
        x_norm=x_squares.rms(batch).cpu().numpy(),
        h_norm=norms[0],
        c_norm=norms[1] if len(kinds) > 1 else None,
        gate_names=gates.names,
        gate_mean=gates.mean(),
        gate_saturated=gates.saturated(),
    )


@dataclass
class ScaledSquares:
    """Sums of squares that cannot underflow: row k holds sum_i g_ki^2 as scale[k]^2 * q[k],
    scale[k] = max_i |g_ki| and q[k] = sum_i (g_ki / scale[k])^2 in [1, n] (0 for a zero row).

    Exact wherever the elements are normal float64 numbers: dividing by the row's largest
    magnitude keeps every scaled square in [0, 1] and the largest at exactly 1."""

    scale: Tensor  # (K,)
    q: Tensor      # (K,)

    @classmethod
    def of(cls, g: Tensor) -> ScaledSquares:
        """The pairs of the rows of g (K, N)."""
        scale = g.abs().amax(dim=1)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        return cls(scale, (g / safe[:, None]).pow(2).sum(dim=1))

    @classmethod
    def of_each(cls, grads: Sequence[Tensor]) -> ScaledSquares:
        """One pair per tensor of `grads`, without stacking them (no copy of the gradients)."""
        scale = torch.stack([g.abs().amax() for g in grads])
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        return cls(scale, torch.stack([(g / m).pow(2).sum() for g, m in zip(grads, safe,
                                                                             strict=True)]))

    def add(self, other: ScaledSquares) -> ScaledSquares:
        """The pairs of the two sets of rows together: (M, q (m/M)^2 + q' (m'/M)^2)."""
        scale = torch.maximum(self.scale, other.scale)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        q = self.q * (self.scale / safe) ** 2 + other.q * (other.scale / safe) ** 2
        return ScaledSquares(scale, q)

    def rms(self, count: int) -> Tensor:
        """sqrt(sum / count) = scale * sqrt(q / count), per row."""
        return self.scale * (self.q / count).sqrt()


class GateStatistics:
    """Running per-step sums of gate activations over the probe's chunks: mean activation and
    the fraction saturated (> s or < 1 - s), without ever stacking the activations."""

    def __init__(self, saturation: float) -> None:
        self.saturation = saturation
        self.names: tuple[str, ...] = ()
        self.count = 0
        self._sum: Tensor | None = None        # (L, D, G, T)
        self._saturated: Tensor | None = None  # (L, D, G, T)

    @staticmethod
    def wanted(net: RecurrentNet) -> bool:
        return bool(net.spec.gates)

    @torch.no_grad()
    def add(self, gates: list[list[list[dict[str, Tensor]]]]) -> None:
        """Add one chunk's gates[layer][direction][t][name] -> (B, H)."""
        self.names = tuple(gates[0][0][0])
        s = self.saturation
        sums, saturated = [], []
        for layer in gates:
            for steps in layer:
                for name in self.names:
                    acts = [step[name] for step in steps]
                    sums.append(torch.stack([a.sum() for a in acts]))
                    saturated.append(torch.stack([((a > s) | (a < 1 - s)).sum() for a in acts]))
        shape = (len(gates), len(gates[0]), len(self.names), -1)
        chunk_sum = torch.stack(sums).reshape(shape)
        chunk_saturated = torch.stack(saturated).reshape(shape).double()
        first = gates[0][0][0][self.names[0]]
        self.count += first.numel()
        self._sum = chunk_sum if self._sum is None else self._sum + chunk_sum
        self._saturated = (chunk_saturated if self._saturated is None
                           else self._saturated + chunk_saturated)

    def mean(self) -> np.ndarray | None:
        return None if self._sum is None else (self._sum / self.count).cpu().numpy()

    def saturated(self) -> np.ndarray | None:
        return None if self._saturated is None else (self._saturated / self.count).cpu().numpy()


def by_distance(g: np.ndarray, task: MemoryTask, direction: str) -> np.ndarray:
    """g_t re-indexed by distance from the loss, d = 0, 1, ... (see the module docstring)."""
    if direction == "fwd":
        return g[: task.loss_anchor + 1][::-1]
    return g[task.backward_anchor :]


def summarise(g_by_distance: np.ndarray, threshold: float = 1e-2) -> dict[str, float]:
    """log10_grad_ratio, decay_rate, memory_horizon and grad_ratio_is_bound of one g_d curve
    (d = 0, 1, ...), as defined in the module docstring.

    All NaN (and not a bound) when g is not finite: a diverged network has no gradient picture.
    A zero curve has horizon 0 and no ratio or rate."""
    g = np.asarray(g_by_distance, dtype=np.float64)
    nan = float("nan")
    if not np.isfinite(g).all():
        return {"log10_grad_ratio": nan, "decay_rate": nan, "memory_horizon": nan,
                "grad_ratio_is_bound": False}
    if g.max() <= 0:
        return {"log10_grad_ratio": nan, "decay_rate": nan, "memory_horizon": 0,
                "grad_ratio_is_bound": False}
    representable = g >= FLOOR
    d = np.arange(len(g), dtype=np.float64)
    slope = nan
    if representable.sum() > 1:
        slope = float(np.polyfit(d[representable], np.log(g[representable]), 1)[0])
    elif len(g) == 1:
        slope = 0.0
    bound = not representable[-1]
    ratio = np.log10(max(g[-1], FLOOR) / g[0]) if representable[0] else nan
    return {
        "log10_grad_ratio": float(ratio),
        "decay_rate": -slope,
        "memory_horizon": int(np.flatnonzero(g / g.max() >= threshold).max()),
        "grad_ratio_is_bound": bool(bound),
    }


def summarise_all(
    h_norm: np.ndarray, task: MemoryTask, threshold: float = 1e-2
) -> dict[str, np.ndarray]:
    """Summaries of every layer and direction of one probe: name -> (L, D) array."""
    depth, directions, _ = h_norm.shape
    table = {name: np.zeros((depth, directions)) for name in SUMMARIES}
    table["grad_ratio_is_bound"] = np.zeros((depth, directions), dtype=bool)
    for layer in range(depth):
        for k in range(directions):
            curve = by_distance(h_norm[layer, k], task, DIRECTIONS[k])
            for name, value in summarise(curve, threshold).items():
                table[name][layer, k] = value
    return table


def memory_coverage(s: np.ndarray, task: MemoryTask, threshold: float = 1e-2) -> float:
    """Fraction of the task's information-bearing steps I with s_t >= threshold * max_{t in I}
    s_t: relative to the largest s over I itself, so the blank steps next to a readout (which
    carry nothing) set no scale. Relative only: read it with `sensitivity_scale`.

    NaN when s is not finite (a diverged network); 0 for an identically zero s over I."""
    s = np.asarray(s, dtype=np.float64)
    if not np.isfinite(s).all():
        return float("nan")
    informative = s[task.information_steps]
    if informative.max() <= 0:
        return 0.0
    return float((informative >= threshold * informative.max()).mean())


def sensitivity_scale(s: np.ndarray, task: MemoryTask) -> float:
    """max_{t in I} s_t, the scale `memory_coverage` is relative to (NaN when not finite)."""
    s = np.asarray(s, dtype=np.float64)
    return float(s[task.information_steps].max()) if np.isfinite(s).all() else float("nan")
