"""Item memory on an absolute scale: how much each item of information still moves the output,
per lag, where 1 is perfect recall and 0 none (docs/tasks.md, "Item memory on an absolute scale").

An *item* is one piece of information the readout needs: adding, one of the two marked values
v_p of a sequence (ideal readout y = v_p1 + v_p2); copy, one of the 10 input symbols a_i, to be
recalled at position r_i = d + 1 + i after the delimiter at d. Its *lag* is the number of steps
from the item to the nearest readout of the network that can see it:

    adding, unidirectional:  l = T - 1 - p                  (the readout after the last step)
    adding, bidirectional:   l = min(T - 1 - p, p)          (the backward readout sits at t = 0)
    copy:                    l = r_i - i                    (= T + 10 with the fixed delay; a
                             backward state at r_i has not seen i < r_i, so only the forward
                             direction can carry it)

Gradient view (`gradient_items`, on the probe batch, float64, at every probe):

    adding:  m_b(p) = d yhat_b / d v_p                       (ideal 1, memoryless 0)
    copy:    m(l)   = (mean P'_bi(s') - mean P_bi(s')) / (1 - mean P_bi(s'))

with the means over the items (b, i) at lag l, P_bi(s) the network's softmax probability of
symbol s at the recall position r_i, and P'_bi the same after the input symbol a_i is swapped
for s'. Each sequence b (its index in the batch) gives one item, so that a view costs one extra
forward pass: position i = b mod 10, swapped to s' = 1 + (a_i - 1 + k) mod 8 with
k = 1 + floor(b / 10) mod 7 (every position and every other symbol in turn over 70 sequences,
no random numbers). It is the
probability-based analogue of d yhat / d v: how far the recall's probability of the new symbol
moves toward certainty when the input symbol changes, 1 for a copier that recalls with
certainty, 0 for a network whose recall does not depend on a_i. A derivative would not do for
copy: a copier that recalls with certainty has a saturated softmax, whose derivative is 0.
The adding gradient is taken through `RecurrentNet.forward` (the input gradient of a fused
module is the exact total derivative) as one backward pass of sum_b yhat_b, which gives every
sequence's own d yhat_b / d x^b since sequences do not interact.

Intervention view (`intervention_items`, on the held-out test set, the network as it runs, at
init and at the end of training):

    adding:  m_b(p) = (yhat'_b - yhat_b) / (u - v_p),   u = (v_p + 1/2) mod 1
    copy:    m(l)   = (F(l) - F0(l)) / (1 - F0(l)),  F = P[recall_i = s' | a_i swapped to s'],
                                                     F0 = P[recall_i = s' | not swapped]
             (one swap per sequence, chosen as in the gradient view)

u is uniform on [0, 1] like v_p and always 1/2 away from it, so the ratio never divides by a
small difference. For a network linear in v the two adding views are equal. Copy's F and F0 are
frequencies over the items at lag l (argmax recall): 1 perfect, 0 memoryless (chance removed).

Per lag, `per_lag` gives the memory (adding: the mean over the lag's items; copy: the ratio
above), its standard error (the items' standard deviation / sqrt(n); copy: that of P' or of
the 0/1 "followed" items, divided by 1 - mean P or 1 - F0) and the item count. A lag with
fewer than 2 items has no standard error and is not *measured*.

Headline, per run and view: the item-memory span

    span = max { l : for every measured lag l' <= l, memory(l') - Z stderr(l') > FRACTION }

with FRACTION = 1/2 of perfect and Z = 1.96 (the lower end of a 95% normal interval above
half of perfect recall); 0 when the smallest measured lag fails (so also for a memoryless
network), NaN when a memory is not finite (a diverged network). `is_bound` is true when the
span equals the largest measured lag: the memory may reach further than the data can show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rnnmem.models import RecurrentNet
from rnnmem.tasks import AddingTask, CopyTask, MemoryTask
from rnnmem.tasks.copy import DELIMITER, NUM_SYMBOLS, RECALL_LEN

VIEWS = ("gradient", "intervention")
FRACTION = 0.5  # of perfect recall: the span's threshold
Z = 1.96        # the span asks memory - Z stderr > FRACTION at every lag up to it
MIN_ITEMS = 2   # items a lag needs to have a standard error (to be measured)


@dataclass
class Items:
    """One value per item: its `lag` (N,) and `value` (N,); `reference` (N,) only for copy:
    the same quantity without the swap (P_bi(s'), or whether the recall already was s')."""

    lag: np.ndarray
    value: np.ndarray
    reference: np.ndarray | None = None


def defined_for(task: MemoryTask) -> bool:
    """Whether item memory is defined for `task` (adding and copy)."""
    return isinstance(task, AddingTask | CopyTask)


def _check(task: MemoryTask) -> None:
    if not defined_for(task):
        raise ValueError(f"item memory is defined for the adding and copy tasks, not "
                         f"{task.name!r}")


def _marked(x: Tensor) -> Tensor:
    """(B, 2) positions of the two markers of each adding sequence, in time order."""
    return (x[..., 1] > 0.5).nonzero()[:, 1].reshape(len(x), 2)


def _adding_lag(net: RecurrentNet, length: int, position: Tensor) -> np.ndarray:
    forward = length - 1 - position
    lag = torch.minimum(forward, position) if net.num_directions == 2 else forward
    return lag.reshape(-1).cpu().numpy().astype(np.int64)


def _swap(x: Tensor, offset: int) -> tuple[Tensor, Tensor, Tensor, np.ndarray]:
    """The one swap of each copy sequence of x (B, L, C), at global indices b = offset + row
    (module docstring): x with symbol i_b replaced by s'_b, the recall position r_b of i_b,
    s'_b (B,), and the lags r_b - i_b."""
    rows = torch.arange(len(x), device=x.device)
    b = rows + offset
    i = b % RECALL_LEN  # (B,)
    k = 1 + (b // RECALL_LEN) % (NUM_SYMBOLS - 1)
    symbol = x[rows, i].argmax(dim=-1)  # a_i, 1..8
    new = 1 + (symbol - 1 + k) % NUM_SYMBOLS
    swapped = x.clone()
    swapped[rows, i] = torch.nn.functional.one_hot(new, x.shape[-1]).to(x.dtype)
    recall = x[..., DELIMITER].argmax(dim=1) + 1 + i  # r_b = d + 1 + i
    return swapped, recall, new, (recall - i).cpu().numpy().astype(np.int64)


def _at(values: Tensor, positions: Tensor, symbols: Tensor) -> Tensor:
    """values (B, L, C) at (b, positions[b], symbols[b]) -> (B,)."""
    b = torch.arange(len(values), device=values.device)
    return values[b, positions, symbols]


def gradient_items(net: RecurrentNet, task: MemoryTask, x: Tensor,
                   chunk_size: int = 256) -> Items:
    """The gradient view on inputs x (module docstring) of a float64 twin of `net` (parameters
    need no gradient); `chunk_size` sequences per pass bound the memory."""
    _check(task)
    lags, values, references = [], [], []
    offset = 0
    with torch.autocast(x.device.type, enabled=False):
        for xc in x.split(chunk_size):
            xc = xc.double()
            if isinstance(task, AddingTask):
                marked = _marked(xc)
                with torch.enable_grad():
                    xg = xc.detach().requires_grad_(True)
                    (grad,) = torch.autograd.grad(net(xg).sum(), xg)
                values.append(grad[..., 0].gather(1, marked).reshape(-1))
                lags.append(_adding_lag(net, task.length, marked))
                continue
            with torch.no_grad():
                swapped, recall, new, lag = _swap(xc, offset)
                p0 = _at(net(xc).softmax(dim=-1), recall, new)
                p1 = _at(net(swapped).softmax(dim=-1), recall, new)
            values.append(p1)
            references.append(p0.double().cpu().numpy())
            lags.append(lag)
            offset += len(xc)
    return Items(np.concatenate(lags), torch.cat(values).double().cpu().numpy(),
                 np.concatenate(references) if references else None)


@torch.no_grad()
def intervention_items(net: RecurrentNet, task: MemoryTask, x: Tensor,
                       chunk_size: int = 1000) -> Items:
    """The intervention view on inputs x (module docstring): `net` as it runs (its own dtype and
    device, eval mode), `chunk_size` sequences per forward pass."""
    _check(task)
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    lags, values, references = [], [], []
    offset = 0
    for xc in x.split(chunk_size):
        xc = xc.to(device)
        out = net(xc)
        if isinstance(task, AddingTask):
            marked = _marked(xc)
            rows = torch.arange(len(xc), device=device)
            ratios = []
            for k in range(2):
                v = xc[rows, marked[:, k], 0]
                u = torch.remainder(v + 0.5, 1.0)
                changed = xc.clone()
                changed[rows, marked[:, k], 0] = u
                ratios.append((net(changed) - out).reshape(-1) / (u - v))
            values.append(torch.stack(ratios, dim=1).reshape(-1).double())  # items as (B, 2)
            lags.append(_adding_lag(net, task.length, marked))
            continue
        swapped, recall, new, lag = _swap(xc, offset)
        rows = torch.arange(len(xc), device=device)
        after = net(swapped)[rows, recall].argmax(dim=-1)
        before = out[rows, recall].argmax(dim=-1)
        values.append((after == new).double())
        references.append((before == new).double().cpu().numpy())
        lags.append(lag)
        offset += len(xc)
    net.train(was_training)
    return Items(np.concatenate(lags), torch.cat(values).cpu().numpy(),
                 np.concatenate(references) if references else None)


def per_lag(items: Items, num_lags: int) -> np.ndarray:
    """(3, num_lags): memory, standard error and item count at lags 0 .. num_lags - 1 (module
    docstring); memory and stderr NaN at a lag without items, stderr NaN below MIN_ITEMS."""
    out = np.full((3, num_lags), np.nan)
    out[2] = np.bincount(items.lag, minlength=num_lags)[:num_lags]
    for lag in np.flatnonzero(out[2]):
        value = items.value[items.lag == lag]
        n = len(value)
        if items.reference is None:
            out[0, lag] = value.mean()
            if n >= MIN_ITEMS:
                out[1, lag] = value.std(ddof=1) / np.sqrt(n)
            continue
        f0 = items.reference[items.lag == lag].mean()
        if f0 < 1:
            out[0, lag] = (value.mean() - f0) / (1 - f0)
            if n >= MIN_ITEMS:
                out[1, lag] = value.std(ddof=1) / np.sqrt(n) / (1 - f0)
    return out


def span(curve: np.ndarray, fraction: float = FRACTION, z: float = Z) -> tuple[float, bool]:
    """(span, is_bound) of one per-lag curve (3, K) from `per_lag` (module docstring)."""
    memory, stderr, count = curve
    measured = np.flatnonzero(count >= MIN_ITEMS)
    if len(measured) == 0:
        return float("nan"), False
    if not np.isfinite(memory[measured]).all():
        return float("nan"), False
    result, passed = 0, 0
    for lag in measured:
        if not memory[lag] - z * stderr[lag] > fraction:
            break
        result, passed = int(lag), passed + 1
    return float(result), bool(passed == len(measured))


def num_lags(task: MemoryTask) -> int:
    """Length of the lag axis: every lag is below the sequence length."""
    return task.length


def item_memory(net: RecurrentNet, task: MemoryTask, x: Tensor, view: str) -> np.ndarray:
    """The per-lag curve (3, num_lags) of one view on inputs x; `net` is used as given (the
    gradient view wants a float64 twin, `rnnmem.measures.probe.float64_twin`)."""
    if view == "gradient":
        items = gradient_items(net, task, x)
    elif view == "intervention":
        items = intervention_items(net, task, x)
    else:
        raise ValueError(f"unknown item-memory view {view!r}; expected one of {list(VIEWS)}")
    return per_lag(items, num_lags(task))


def intervention_section(net: RecurrentNet, task: MemoryTask, x: Tensor, step: int,
                         at_init: np.ndarray | None) -> dict[str, object]:
    """The record's intervention view of a run: `item_memory.intervention`, a list of
    {step, curve (3, K)} at init (step 0, `at_init`) and at `step` (the end of training), with
    the span's FRACTION and Z, and the headline `intervention_span`, `..._is_bound` and
    `..._init`. {} when the task defines no item memory."""
    if not defined_for(task):
        return {}
    final = item_memory(net, task, x, "intervention")
    entries = ([{"step": 0, "curve": at_init.tolist()}] if at_init is not None else [])
    entries.append({"step": int(step), "curve": final.tolist()})
    span_final, bound = span(final)
    return {
        "item_memory": {"intervention": entries, "fraction": FRACTION, "z": Z},
        "intervention_span": span_final,
        "intervention_span_is_bound": bound,
        "intervention_span_init": span(at_init)[0] if at_init is not None else float("nan"),
    }
