"""Item memory on an absolute scale: per lag, how much each item a network must remember still
reaches its output (or its state), where 1 is perfect and 0 none (docs/tasks.md, "Item memory").

The measures read only the task's item contract (`rnnmem.tasks.items`): the items of a batch,
each with its lag to every readout, the output that should follow it (`readout_of`) and the
change that moves it (`with_items`, `replacement`). A task of either kind gets three views:

    value items (adding)                        symbol items (copy)
    gradient      a = d r / d v                 probability  a = P'(s') - P(s'), b = 1 - P(s')
    intervention  a = (r' - r) / (u - v)        choice       a = F - F0,          b = 1 - F0
    storage       R^2 of a linear read-out      storage      accuracy of a linear read-out,
                  of v from the head's input    (c - 1/K) / (1 - 1/K) chance-corrected

with r the output that should follow the item (the readout's value), u = the task's
replacement of v, P(s) the recall's softmax probability of symbol s at the item's recall step
and P' the same after the item was swapped to s', F = 1 if the recall then names s' (argmax),
F0 = 1 if it already did. The gradient and probability views run at every probe on a float32
copy of the network, subnormal numbers flushed (`probe_view`); the intervention and choice
views, and storage, at initialisation and at the end, on the network as it runs. They measure
different things: the first two how much the output moves with the item (the output's
response), storage whether the item is still in the state the head reads, used or not (an exact
adder's state holds u_p1 + u_p2, from which a linear read-out recovers each value with R^2 =
1/2: kept as a sum, not item by item).

Each item i gives a pair (a_i, b_i); memory at lag l is the ratio of means over the items at
that lag, m(l) = sum a_i / sum b_i (b = 1 for the value views: the mean of a), its standard
error by the delta method on the paired items, se = sd(a_i - m b_i) / (sqrt(n) mean b), which
keeps the variance of the unswapped reference (P, F0), and its 95% interval m +- t_{n-1} se (the
t quantile, exact for normal items at any n). A lag is *measured* when it has at least MIN_ITEMS
items: with fewer, nothing is claimed about it (at 10 items even ten agreeing outcomes put the
95% interval on the right side of 1/2; with 2, a t interval would be 12.7 standard errors wide).
The item sets the runs use (`MemoryTask.memory_set`) carry at least `probe.items_per_lag` items
(default 30) at every lag the task can have.

Headlines, per view, never silent about unmeasured lags:

    capacity  MC = sum_{measured l} clip(m(l), 0, 1), in lags, and MC / (measured lags) in [0, 1]
              (the form of Jaeger 2001's short-term memory capacity, sum_k MC_k), with a 95%
              percentile bootstrap interval over the set's sequences (BOOTSTRAP resamples, fixed
              seed: the same items give the same interval)
    span      max { L in A : low(L) > 1/2,  no lag l in A_L forgotten,
                             #{l in A_L : low(l) <= 1/2} <= max(1, floor(|A_L| / 10)) }

              with A the lags the item set holds (those the task can have: adding 0..T-1;
              copy 11..T+10, or T + 10 alone with the fixed delay), A_L = {l in A : l <= L},
              a lag forgotten when it is unmeasured or high(l) < 1/4: the largest lag that
              passes with at most one lag, or a tenth of them, below it failing and none
              forgotten. One weak lag (a solved adder's lag 0, whose item has one step
              to reach the output) does not zero it, a lag that scores 0 is never inside it, and
              a chance pass beyond the memory does not stretch it (the lags failing before it
              would outnumber the allowance); 0 when no lag qualifies, NaN for a diverged
              network; `is_bound` when it is the largest lag of the set (memory may reach
              further than the set shows)

Lags: an item's lag is the number of steps to the nearest readout of the network that can see
it (`MemoryItems.lags`): the forward readout's, or for a bidirectional network the nearer of the
forward and the backward one (adding: min(T - 1 - p, p); a copy symbol has no backward lag).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnmem.measures.intervals import t_quantile
from rnnmem.measures.probe import twin
from rnnmem.models import RecurrentNet, denormals
from rnnmem.tasks import MemoryTask
from rnnmem.tasks.items import MemoryItems

VIEWS = {"value": ("gradient", "intervention"), "symbol": ("probability", "choice")}
STORAGE = "storage"
LEVEL = 0.95        # the intervals' coverage
FRACTION = 0.5      # of perfect memory: a lag passes when its interval lies above it
FORGOTTEN = 0.5     # a lag whose interval lies below this share of FRACTION is forgotten
PER_FAILURE = 10    # the span tolerates one failing lag per this many lags (and one at least)
MIN_ITEMS = 10      # items a lag needs to be measured
BOOTSTRAP = 1000    # resamples of the capacity's interval
ROWS = ("memory", "stderr", "count", "low", "high")  # the rows of a per-lag curve
STORAGE_FOLDS = 5
STORAGE_ITEMS_PER_FEATURE = 4  # storage set: this many items per read-out weight at every lag
RIDGE = 1e-3        # the read-out's ridge penalty per training item (standardised features)
STORAGE_MAX_ITEMS = 50_000  # the storage set's items over all lags, at most
PROBE_DTYPE = torch.float32  # the probe view's format (`probe_view`)
GRADIENT_CHUNK = 128  # sequences per pass of the gradient view off the CPU (the paper's batch)


@dataclass
class Scores:
    """One view's pairs (a_i, b_i) of N items, with each item's lag and sequence (its row in
    the item set: the bootstrap's unit)."""

    lag: np.ndarray          # (N,) int64
    sequence: np.ndarray     # (N,) int64
    numerator: np.ndarray    # (N,) a_i
    denominator: np.ndarray  # (N,) b_i


def probe_twin(net: nn.Module) -> nn.Module:
    """The copy of `net` that `probe_view` measures: PROBE_DTYPE, parameters without
    gradient."""
    return twin(net, PROBE_DTYPE)


def defined_for(task: MemoryTask) -> bool:
    """Whether `task` states memory items (its `item_kind`)."""
    return task.item_kind is not None


def views_of(task: MemoryTask) -> tuple[str, str, str]:
    """The task's three views: (the one at every probe, the one at the end, storage)."""
    return (*VIEWS[task.item_kind], STORAGE)


def _scores(items: MemoryItems, bidirectional: bool, numerator: Tensor,
            denominator: Tensor | None = None) -> Scores:
    numerator = numerator.detach().double().cpu().numpy()
    return Scores(items.lags(bidirectional), items.sequence.cpu().numpy().astype(np.int64),
                  numerator, np.ones_like(numerator) if denominator is None
                  else denominator.detach().double().cpu().numpy())


def _concat(parts: list[Scores]) -> Scores:
    return Scores(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Scores)))


def _bidirectional(net: nn.Module) -> bool:
    return getattr(net, "num_directions", 1) == 2


def _chunks(task: MemoryTask, x: Tensor, chunk_size: int
            ) -> list[tuple[Tensor, MemoryItems, int]]:
    """The inputs in chunks of `chunk_size` sequences, each with its items and its first
    sequence's row in x (`_offset` counts the items' sequences over the whole set)."""
    return [(x[start:start + chunk_size], task.memory_items(x[start:start + chunk_size]), start)
            for start in range(0, len(x), chunk_size)]


def gradient_scores(net: RecurrentNet, task: MemoryTask, x: Tensor,
                    chunk_size: int | None = None) -> Scores:
    """Value items: a_i = d r / d v_i, through autograd (`net` as given: `probe_view` passes a
    float32 copy whose parameters need no gradient). A task with one output per sequence reads
    every item of a sequence at the same output, so one backward pass of sum_b r_b gives every
    item's own derivative; per-step readouts take one pass per slot, so that no item's output
    mixes in another's.

    Cost, on a unidirectional net: the sequences are taken in the order of their earliest item
    and each pass runs the steps before its earliest item outside autograd
    (`RecurrentNet.forward_from`), so the backward spans only the steps an item can reach (on
    the adding problem, whose first marker lies uniformly in the first half, 3/4 of them on
    average). Passes of `chunk_size` sequences (None: the cell's `cpu_view_chunk` on a CPU,
    GRADIENT_CHUNK elsewhere; the derivatives do not depend on it). The scores come back in the
    rows' order of x."""
    device = next(net.parameters()).device
    dtype = next(net.parameters()).dtype
    if chunk_size is None:
        chunk_size = net.spec.cpu_view_chunk if device.type == "cpu" else GRADIENT_CHUNK
    x = x.to(device, dtype)
    bidirectional = _bidirectional(net)
    order = (torch.arange(len(x), device=device) if bidirectional
             else torch.argsort(_earliest_item(task, x), stable=True))
    parts = []
    for xc, items, start in _chunks(task, x[order], chunk_size):
        groups = [items] if not task.per_step_output else items.slots()
        for group in groups:
            begin = 0 if bidirectional else int(group.position.min())
            with torch.enable_grad():
                values = group.value.to(dtype).detach().requires_grad_(True)
                output = net.forward_from(task.with_items(xc, group, values), begin)
                read = task.readout_of(output, group)
                if not task.per_step_output:  # one output per sequence, counted once
                    first = torch.ones_like(group.sequence, dtype=torch.bool)
                    first[1:] = group.sequence[1:] != group.sequence[:-1]
                    read = read[first]
                (grad,) = torch.autograd.grad(read.sum(), values)
            parts.append(_scores(_offset(group, start), bidirectional, grad))
    scores = _concat(parts)
    scores.sequence = order.cpu().numpy()[scores.sequence]  # rows of x, not of x[order]
    return _select(scores, np.argsort(scores.sequence, kind="stable"))


def _earliest_item(task: MemoryTask, x: Tensor) -> Tensor:
    """(B,) the position of each sequence's earliest item (the sequence's length if none)."""
    items = task.memory_items(x)
    earliest = torch.full((len(x),), x.shape[1], dtype=torch.int64, device=x.device)
    return earliest.scatter_reduce(0, items.sequence, items.position, "amin")


def _select(scores: Scores, rows: np.ndarray) -> Scores:
    return Scores(*(getattr(scores, f.name)[rows] for f in fields(Scores)))


@torch.no_grad()
def intervention_scores(net: nn.Module, task: MemoryTask, x: Tensor, chunk_size: int = 1000
                        ) -> Scores:
    """Value items: a_i = (r' - r) / (u - v), the item changed to the task's replacement u, one
    slot of every sequence at a time."""
    parts = []
    for xc, items, start in _chunks(task, _on(net, x), chunk_size):
        before = task.readout_of(net(xc), items)
        for group in items.slots():
            u = task.replacement(xc, group)
            after = task.readout_of(net(task.with_items(xc, group, u)), group)
            mine = _rows_of(items, group)
            parts.append(_scores(_offset(group, start), _bidirectional(net),
                                 (after - before[mine]) / (u - group.value).to(after.dtype)))
    return _concat(parts)


@torch.no_grad()
def swap_scores(net: nn.Module, task: MemoryTask, x: Tensor, by: str,
                chunk_size: int = 1000) -> Scores:
    """Symbol items, each swapped to s' (the task's replacement), one slot of every sequence
    at a time: `by`="probability": a = P'(s') - P(s'), b = 1 - P(s'); `by`="choice":
    a = F - F0, b = 1 - F0 (module docstring)."""
    parts = []
    for xc, items, start in _chunks(task, _on(net, x), chunk_size):
        before = task.readout_of(net(xc), items)  # (N, C) logits
        for group in items.slots():
            new = task.replacement(xc, group)
            after = task.readout_of(net(task.with_items(xc, group, new)), group)
            old = before[_rows_of(items, group)]
            if by == "probability":
                p0 = old.softmax(dim=-1).gather(1, new[:, None])[:, 0]
                p1 = after.softmax(dim=-1).gather(1, new[:, None])[:, 0]
                numerator, denominator = p1 - p0, 1 - p0
            else:
                f0 = (old.argmax(dim=-1) == new).double()
                f1 = (after.argmax(dim=-1) == new).double()
                numerator, denominator = f1 - f0, 1 - f0
            parts.append(_scores(_offset(group, start), _bidirectional(net), numerator,
                                 denominator))
    return _concat(parts)


@torch.no_grad()
def storage_scores(net: nn.Module, task: MemoryTask, x: Tensor, chunk_size: int = 1000,
                   folds: int = STORAGE_FOLDS) -> Scores:
    """Whether each item is still in the states the head reads (`RecurrentNet.features`) at
    its readout, used or not: per lag, a ridge read-out of the item (a value; a symbol as a
    one-hot row, predicted by argmax) fitted on `folds` - 1 folds of the sequences and scored on
    the held-out fold. Value items: a_i = d_i^2 - e_i^2, b_i = d_i^2 (so m = R^2 = 1 - SSE/SST,
    d the item's deviation from the training folds' mean, e the read-out's error); symbol items:
    a_i = c_i - 1/K, b_i = 1 - 1/K (chance-corrected accuracy over the K item symbols)."""
    features, all_items = [], []
    for xc, items, start in _chunks(task, _on(net, x), chunk_size):
        state = net.features(xc)
        read = state[items.sequence, items.readout] if task.per_step_output \
            else state[items.sequence]
        features.append(read.double().cpu())
        all_items.append(_offset(items, start))
    phi = torch.cat(features).numpy()  # (N, W)
    sequence = np.concatenate([i.sequence.cpu().numpy() for i in all_items])
    value = np.concatenate([i.value.cpu().numpy() for i in all_items])
    lag = np.concatenate([i.lags(_bidirectional(net)) for i in all_items])
    numerator, denominator = np.zeros(len(lag)), np.ones(len(lag))
    symbols = np.array(task.item_symbols)
    for at in np.unique(lag):
        rows = np.flatnonzero(lag == at)
        fold = sequence[rows] % folds
        for k in range(folds):
            train, test = rows[fold != k], rows[fold == k]
            if len(train) == 0 or len(test) == 0:
                continue
            target = value[train] if task.item_kind == "value" else \
                (value[train][:, None] == symbols[None, :]).astype(float)
            predicted = _ridge(phi[train], target, phi[test])
            if task.item_kind == "value":
                deviation = value[test] - value[train].mean()
                numerator[test] = deviation ** 2 - (value[test] - predicted) ** 2
                denominator[test] = deviation ** 2
            else:
                correct = symbols[predicted.argmax(axis=1)] == value[test]
                numerator[test] = correct - 1 / len(symbols)
                denominator[test] = 1 - 1 / len(symbols)
    return Scores(lag, sequence, numerator, denominator)


def _ridge(train: np.ndarray, target: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Ridge regression on standardised features (penalty RIDGE per training item), fitted on
    (train, target), predicting `test`; an intercept, unpenalised."""
    mean, scale = train.mean(axis=0), train.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z_train, z_test = (train - mean) / scale, (test - mean) / scale
    offset = target.mean(axis=0)
    gram = z_train.T @ z_train + RIDGE * len(train) * np.eye(train.shape[1])
    weights = np.linalg.solve(gram, z_train.T @ (target - offset))
    return z_test @ weights + offset


def _on(net: nn.Module, x: Tensor) -> Tensor:
    parameter = next(net.parameters())
    return x.to(parameter.device, parameter.dtype)


def _offset(items: MemoryItems, start: int) -> MemoryItems:
    """The items with `sequence` counted over the whole set, not the chunk."""
    return MemoryItems(items.sequence + start, items.slot, items.position, items.readout,
                       items.lag, items.value)


def _rows_of(items: MemoryItems, group: MemoryItems) -> Tensor:
    """The rows of `items` that `group` (one slot of it) holds."""
    return torch.nonzero(items.slot == group.slot[0]).squeeze(1)


@denormals.exact()
def scores(net: nn.Module, task: MemoryTask, x: Tensor, view: str) -> Scores:
    """The pairs (a_i, b_i) of one view (module docstring) on the item set x, of `net` as
    given. Subnormal numbers are never flushed here, whatever the caller set
    (`rnnmem.models.denormals`)."""
    return _view_scores(net, task, x, view)


@denormals.flushed()
def probe_view(net: nn.Module, task: MemoryTask, x: Tensor) -> Scores:
    """The view taken at every probe (gradient or probability: `views_of(task)[0]`) on the
    item set x, of a float32 copy of `net`, with subnormal numbers flushed to zero whatever
    the caller set (`rnnmem.models.denormals.flushed`).

    Float32, where the gradient probe computes in float64: item memory lives on an absolute
    scale (1 perfect, 0 none; at 30 items a lag's interval is 1e-2 wide or wider), where float32's
    relative rounding (6e-8) and a derivative below 1.2e-38 read as 0 change no digit it
    reports. The float64 twin took twice the time, and float32 without flushing five times (a
    tanh RNN's derivatives vanish into subnormal numbers at long lags): at the paper preset's
    probe interval the tanh RNN's probes at T = 200 took 8.4% of its training time with the
    float64 twin, 4.3% with this and the truncated backward of `gradient_scores` (`make
    bench`, README).
    Against the float64 view: per-lag memory within 1e-6 for every cell in the tests
    (tests/test_item_memory.py), and within 2.4e-7 at every probe of the default sweep for the
    tanh RNN, LSTM and GRU, trained nets included; orth by up to 9.3e-4 there (adding; copy
    1.6e-4), since modReLU jumps where b > 0, and an item whose pre-activation lies within
    rounding of a jump takes the other side's derivative in the other format (the gradient
    view's blind spot for jumps, README's measures table)."""
    return _view_scores(probe_twin(net), task, x, views_of(task)[0])


def _view_scores(net: nn.Module, task: MemoryTask, x: Tensor, view: str) -> Scores:
    if view == "gradient":
        return gradient_scores(net, task, x)
    if view == "intervention":
        return intervention_scores(net, task, x)
    if view in ("probability", "choice"):
        return swap_scores(net, task, x, view)
    if view == STORAGE:
        return storage_scores(net, task, x)
    raise ValueError(f"unknown item-memory view {view!r}; expected one of "
                     f"{[*VIEWS['value'], *VIEWS['symbol'], STORAGE]}")


def per_lag(items: Scores, num_lags: int, level: float = LEVEL,
            min_items: int = MIN_ITEMS) -> np.ndarray:
    """(5, num_lags), the rows ROWS: memory, standard error, item count, and the interval's low
    and high end at lags 0 .. num_lags - 1 (module docstring); NaN at a lag with fewer than
    `min_items` items (unmeasured) but its count."""
    out = np.full((len(ROWS), num_lags), np.nan)
    out[2] = np.bincount(items.lag, minlength=num_lags)[:num_lags]
    for lag in np.flatnonzero(out[2] >= max(min_items, 2)):
        a, b = items.numerator[items.lag == lag], items.denominator[items.lag == lag]
        if b.sum() <= 0:
            continue  # every reference already at the swapped-in symbol: nothing to measure
        n, memory = len(a), a.sum() / b.sum()
        stderr = (a - memory * b).std(ddof=1) / np.sqrt(n) / b.mean()
        half = t_quantile(level, n - 1) * stderr
        out[:, lag] = memory, stderr, n, memory - half, memory + half
    return out


def measured(curve: np.ndarray) -> np.ndarray:
    """The measured lags of a per-lag curve (`per_lag`): enough items and a memory."""
    return np.flatnonzero((curve[2] >= MIN_ITEMS) & ~np.isnan(curve[0]))


def span(curve: np.ndarray, fraction: float = FRACTION) -> tuple[float, bool]:
    """(span, is_bound) of one per-lag curve (module docstring)."""
    lags = measured(curve)
    if len(lags) == 0:
        return float("nan"), False
    if not np.isfinite(curve[0, lags]).all():
        return float("nan"), False
    low, high = curve[3], curve[4]
    held = np.flatnonzero(curve[2] > 0)  # the lags the item set holds: those the task can have
    result, failed = None, 0
    for index, lag in enumerate(held):
        if lag not in lags or high[lag] < FORGOTTEN * fraction:
            break  # unmeasured or forgotten: the span never reaches past it
        passes = bool(low[lag] > fraction)
        failed += not passes
        if passes and failed <= max(1, (index + 1) // PER_FAILURE):
            result = int(lag)
    if result is None:
        return 0.0, False
    return float(result), bool(result == held.max())


def capacity(items: Scores, num_lags: int, resamples: int = BOOTSTRAP, seed: int = 0,
             min_items: int = MIN_ITEMS) -> dict[str, float]:
    """`capacity` MC = sum over measured lags of clip(m(l), 0, 1) (lags), `capacity_fraction`
    MC / measured lags, `measured_lags`, and the 95% percentile bootstrap interval of MC over the
    set's sequences (`capacity_low`, `capacity_high`; module docstring)."""
    curve = per_lag(items, num_lags, min_items=min_items)
    lags = measured(curve)
    nan = float("nan")
    if len(lags) == 0 or not np.isfinite(curve[0, lags]).all():
        return {"capacity": nan, "capacity_low": nan, "capacity_high": nan,
                "capacity_fraction": nan, "measured_lags": int(len(lags))}
    point = float(np.clip(curve[0, lags], 0, 1).sum())
    sequences, index = np.unique(items.sequence, return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    for r in range(resamples):
        weight = np.bincount(rng.integers(0, len(sequences), len(sequences)),
                             minlength=len(sequences))[index]
        a = np.bincount(items.lag, weights=items.numerator * weight, minlength=num_lags)
        b = np.bincount(items.lag, weights=items.denominator * weight, minlength=num_lags)
        with np.errstate(invalid="ignore", divide="ignore"):
            draws[r] = np.nan_to_num(np.clip(a[lags] / b[lags], 0, 1)).sum()
    low, high = np.percentile(draws, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    return {"capacity": point, "capacity_low": float(low), "capacity_high": float(high),
            "capacity_fraction": point / len(lags), "measured_lags": int(len(lags))}


def num_lags(task: MemoryTask) -> int:
    """Length of the lag axis: lags 0 .. the task's largest."""
    return task.max_lag + 1


@denormals.exact()
def item_memory(net: nn.Module, task: MemoryTask, x: Tensor, view: str) -> np.ndarray:
    """The per-lag curve (5, num_lags) of one view on the item set x; `net` is used as given
    (the gradient and probability views want a copy whose parameters need no gradient:
    `probe_twin`, or `rnnmem.measures.probe.float64_twin` for a float64 reference). Subnormal
    numbers are never flushed here (`rnnmem.models.denormals`)."""
    return per_lag(scores(net, task, x, view), num_lags(task))


def summary(items: Scores, task: MemoryTask, min_items: int = MIN_ITEMS) -> dict[str, Any]:
    """One view's curve and headlines: `curve` (5, K) as lists, `span`, `span_is_bound`, and
    `capacity` with its interval, fraction and measured lags (a lag measured from `min_items`
    items on)."""
    curve = per_lag(items, num_lags(task), min_items=min_items)
    length, bound = span(curve)
    return {"curve": curve.tolist(), "span": length, "span_is_bound": bound,
            **capacity(items, num_lags(task), min_items=min_items)}


def storage_items_per_lag(net: nn.Module, task: MemoryTask, items_per_lag: int) -> int:
    """Items per lag of the storage view's set: STORAGE_ITEMS_PER_FEATURE per read-out weight
    (the head's inputs and an intercept), at least `items_per_lag`, and at most as many as keep
    the set within STORAGE_MAX_ITEMS over the task's lags (a lag left with fewer than the
    read-out needs is unmeasured: `storage_min_items`)."""
    wanted = max(items_per_lag, storage_min_items(net))
    return max(items_per_lag, min(wanted, STORAGE_MAX_ITEMS // num_lags(task)))


def storage_min_items(net: nn.Module) -> int:
    """Items a lag needs for the storage view: STORAGE_ITEMS_PER_FEATURE per read-out weight."""
    return STORAGE_ITEMS_PER_FEATURE * (net.head.in_features + 1)


def end_views(net: nn.Module, task: MemoryTask, items: Tensor, storage: Tensor
              ) -> dict[str, dict[str, Any]]:
    """The views taken at initialisation and at the end, each's `summary`, of the network as it
    runs (eval mode): the end view (intervention or choice) on the item set `items`, storage on
    the larger set `storage`."""
    end, training = views_of(task)[1], net.training
    net.eval()
    try:
        return {end: summary(scores(net, task, items, end), task),
                STORAGE: summary(scores(net, task, storage, STORAGE), task,
                                 min_items=storage_min_items(net))}
    finally:
        net.train(training)


HEADLINE_FIELDS = ("span", "span_is_bound", "capacity", "capacity_low", "capacity_high",
                   "capacity_fraction")


def record_section(task: MemoryTask, at_init: dict[str, dict[str, Any]],
                   at_end: dict[str, dict[str, Any]], step: int, items_per_lag: int
                   ) -> dict[str, Any]:
    """The record's item memory: `item_memory` (the task's item kind, each end view's summary
    at init and at `step`, and the rules: level, fraction, forgotten, per_failure, min_items,
    items_per_lag), the names of the headline view (`item_view`: the end view) and of the probe
    view (`probe_view`), and the flat headlines `<view>_<field>` (HEADLINE_FIELDS, at the end),
    `<view>_span_init` and `<view>_capacity_init` of the end view and storage."""
    probe_view, end_view, _ = views_of(task)
    section: dict[str, Any] = {
        "kind": task.item_kind, "views": list(views_of(task)), "probe_view": probe_view,
        "headline_view": end_view, "items_per_lag": items_per_lag, "level": LEVEL,
        "fraction": FRACTION, "forgotten": FORGOTTEN, "per_failure": PER_FAILURE,
        "min_items": MIN_ITEMS,
    }
    fields: dict[str, Any] = {"item_view": end_view, "probe_view": probe_view}
    for view, final in at_end.items():
        section[view] = [{"step": 0, **at_init[view]}, {"step": int(step), **final}]
        fields.update({f"{view}_{key}": final[key] for key in HEADLINE_FIELDS})
        fields[f"{view}_span_init"] = at_init[view]["span"]
        fields[f"{view}_capacity_init"] = at_init[view]["capacity"]
    return {"item_memory": section, **fields}
