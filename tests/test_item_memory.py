"""Item memory on an absolute scale, proven on constructed networks with known answers (a
memoryless net: 0; an exact adder: 1, and 1/2 stored per item; a leaky adder: f^l; a delay
line: stored exactly; a perfect copier: 1), its statistics against hand computations, and the
task contract through a toy task that the measures have never seen."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from rnnmem.measures import item_memory as im
from rnnmem.measures.intervals import central_probability, t_quantile
from rnnmem.measures.probe import by_distance, float64_twin, memory_coverage, probe, summarise
from rnnmem.models import CELLS, RecurrentNet
from rnnmem.tasks import MemoryTask, make_task
from rnnmem.tasks.copy import NUM_CLASSES, RECALL_LEN
from rnnmem.tasks.items import MemoryItems

BIG = 60.0   # a gate pre-activation that saturates the sigmoid to within e^-60
EPS = 1e-4   # the adder's input scale: tanh(EPS v) = EPS v to within 1e-9 relative


def leaky_adder(forget: float = 1.0, bidirectional: bool = False) -> RecurrentNet:
    """A 1-unit LSTM on adding: input gate open only at markers (i = sigmoid(2 BIG (m - 1/2))),
    candidate g = tanh(EPS v), forget gate `forget` (1: sigmoid(BIG)), output gate open, no
    recurrent weights; head 1 / EPS. So c_{T-1} = EPS sum_p f^(T-1-p) v_p and yhat = that / EPS
    (tanh(c) = c to within 1e-8): dyhat/dv_p = f^lag, an exact adder at f = 1."""
    net = RecurrentNet("lstm", 2, 1, depth=1, num_outputs=1, per_step_output=False,
                       bidirectional=bidirectional)
    gate = BIG if forget == 1.0 else float(np.log(forget / (1 - forget)))
    with torch.no_grad():
        for name, p in net.rnn.named_parameters():
            p.zero_()
            if name.startswith("weight_ih"):
                p[:, :] = torch.tensor([[0.0, 2 * BIG], [0.0, 0.0], [EPS, 0.0], [0.0, 0.0]])
            if name.startswith("bias_ih"):
                p[:] = torch.tensor([-BIG, gate, 0.0, BIG])
        net.head.weight.fill_(1.0 / EPS / net.num_directions)
        net.head.bias.zero_()
    return net


def delay_line(seq_len: int, input_size: int = 2) -> RecurrentNet:
    """A tanh RNN of seq_len units in its linear regime whose state is a shift register of the
    values: h_t = S h_{t-1} + EPS v_t e_0 (S shifts unit k to k + 1), so h_{T-1} holds EPS v_p in
    unit T - 1 - p: every value stored exactly, whatever the markers."""
    net = RecurrentNet("rnn", input_size, seq_len, depth=1, num_outputs=1,
                       per_step_output=False)
    with torch.no_grad():
        for p in net.rnn.parameters():
            p.zero_()
        net.rnn.weight_ih_l0[0, 0] = EPS
        net.rnn.weight_hh_l0.copy_(torch.diag(torch.ones(seq_len - 1), -1))
    return net


def memoryless(net: RecurrentNet) -> RecurrentNet:
    with torch.no_grad():
        for name, p in net.rnn.named_parameters():
            if name.startswith("weight_ih_l0"):
                p.zero_()
    return net


def item_set(task: MemoryTask, per_lag: int = 30, seed: int = 3) -> Tensor:
    return task.memory_set(per_lag, torch.Generator().manual_seed(seed))


def curve_of(net: nn.Module, task: MemoryTask, x: Tensor, view: str) -> np.ndarray:
    twin = float64_twin(net) if view in ("gradient", "probability") else net
    return im.item_memory(twin, task, x, view)


class Copier(nn.Module):
    """A perfect copier as a constructed output function (not a recurrent net: recalling ten
    3-bit symbols after T steps by hand-set LSTM weights is impractical): logits BIG for the
    input symbol a_i at its recall position d + 1 + i, BIG for blank elsewhere."""

    num_directions = 1

    def __init__(self, remember: bool = True) -> None:
        super().__init__()
        self.remember = remember
        self.dummy = nn.Parameter(torch.zeros(()))  # gives the device and dtype

    def forward(self, x: Tensor) -> Tensor:
        batch, length, _ = x.shape
        logits = torch.zeros(batch, length, NUM_CLASSES, dtype=x.dtype)
        logits[..., 0] = BIG
        delimiter = x[..., 9].argmax(dim=1)
        for i in range(RECALL_LEN):
            rows = torch.arange(batch)
            symbol = x[:, i].argmax(dim=-1) if self.remember else torch.full((batch,), 3)
            logits[rows, delimiter + 1 + i] = 0.0
            logits[rows, delimiter + 1 + i, symbol] = BIG
        return logits + 0 * self.dummy


# --- the item sets ------------------------------------------------------------------------------


@pytest.mark.parametrize("task", [make_task("adding", 20), make_task("adding", 7),
                                  make_task("copy", 5), make_task("copy", 12, "variable")],
                         ids=repr)
def test_the_memory_set_puts_at_least_n_items_at_every_lag(task):
    items = task.memory_items(item_set(task, per_lag=30))
    counts = np.bincount(items.lags(False), minlength=task.max_lag + 1)
    lags = np.flatnonzero(counts)
    expected = (list(range(task.max_lag + 1)) if task.name == "adding"
                else list(range(RECALL_LEN + (1 if task.delay == "variable" else task.seq_len),
                                task.max_lag + 1)))
    assert lags.tolist() == expected
    assert counts[lags].min() >= 30
    if task.name == "copy":  # every lag spread evenly over the ten positions
        for lag in lags:
            at_lag = items.position[torch.from_numpy(items.lags(False) == lag)]
            assert np.bincount(at_lag.numpy(), minlength=RECALL_LEN).min() >= 3


def test_the_memory_set_is_drawn_from_its_generator_alone():
    task = make_task("adding", 12)
    torch.manual_seed(1)
    state = torch.get_rng_state()
    first, second = item_set(task, seed=5), item_set(task, seed=5)
    assert torch.equal(first, second)
    assert torch.equal(torch.get_rng_state(), state)
    assert not torch.equal(first, item_set(task, seed=6))


def test_adding_items_are_the_marked_values_with_both_lags():
    task = make_task("adding", 10)
    x, _ = task.sample(3, torch.Generator().manual_seed(0))
    items = task.memory_items(x)
    marked = (x[..., 1] > 0.5).nonzero()[:, 1].reshape(3, 2)
    assert items.position.tolist() == marked.reshape(-1).tolist()
    assert items.lag[:, 0].tolist() == (9 - marked.reshape(-1)).tolist()
    assert items.lag[:, 1].tolist() == marked.reshape(-1).tolist()
    np.testing.assert_array_equal(items.value.numpy(),
                                  x[items.sequence, items.position, 0].numpy())
    assert items.lags(True).tolist() == torch.minimum(9 - marked, marked).reshape(-1).tolist()


# --- constructed networks -----------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_memoryless_net_scores_zero_in_every_view_and_headline(cell, bidirectional):
    task = make_task("adding", 20)
    x = item_set(task)
    torch.manual_seed(0)
    net = memoryless(RecurrentNet(cell, 2, 16, depth=2, num_outputs=1, per_step_output=False,
                                  bidirectional=bidirectional))
    for view in ("gradient", "intervention"):
        curve = curve_of(net, task, x, view)
        lags = im.measured(curve)
        np.testing.assert_array_equal(curve[0, lags], 0.0)
        assert im.span(curve) == (0.0, False)
        assert im.capacity(im.scores(float64_twin(net) if view == "gradient" else net, task,
                                     x, view), im.num_lags(task))["capacity"] == 0.0
    storage = im.summary(im.scores(net, task, x, "storage"), task)
    assert np.nanmax(storage["curve"][0]) < 0.05
    assert storage["span"] == 0.0 and storage["capacity_fraction"] < 0.02
    assert memory_coverage(probe(net, task, x[:16], torch.zeros(16)).x_norm, task) == 0.0


@pytest.mark.parametrize("bidirectional", [False, True])
def test_exact_adder_scores_one_at_every_lag_and_stores_each_value_at_one_half(bidirectional):
    task = make_task("adding", 20)
    x = item_set(task)
    net = leaky_adder(1.0, bidirectional)
    largest = 19 if not bidirectional else 9  # both ends read: lag = min(T-1-p, p) < T/2
    for view in ("gradient", "intervention"):
        curve = curve_of(net, task, x, view)
        assert im.measured(curve).tolist() == list(range(largest + 1))
        np.testing.assert_allclose(curve[0, : largest + 1], 1.0, atol=1e-5)
        assert im.span(curve) == (float(largest), True)
        head = im.capacity(im.scores(float64_twin(net) if view == "gradient" else net, task,
                                     x, view), im.num_lags(task))
        assert head["capacity"] == pytest.approx(largest + 1, abs=1e-4)
        assert head["capacity_fraction"] == pytest.approx(1.0, abs=1e-5)
    # the state holds the sum, not the items: a linear read-out of u_p from u_p + u_q has R^2 1/2
    storage = curve_of(net, task, item_set(task, per_lag=300), "storage")
    np.testing.assert_allclose(storage[0, : largest + 1], 0.5, atol=0.15)
    assert abs(np.mean(storage[0, : largest + 1]) - 0.5) < 0.03


def test_delay_line_stores_every_item_exactly():
    task = make_task("adding", 12)
    x = item_set(task, per_lag=60)
    storage = im.summary(im.scores(delay_line(12), task, x, "storage"), task)
    np.testing.assert_allclose(storage["curve"][0], 1.0, atol=1e-4)
    assert storage["span"] == 11.0 and storage["span_is_bound"]
    assert storage["capacity"] == pytest.approx(12.0, abs=1e-3)


def test_for_a_net_linear_in_v_both_views_agree_per_item():
    """The leaky adder (f = 0.8) is linear in v: the intervention's difference quotient equals
    the derivative item by item, and both equal f^lag."""
    task = make_task("adding", 20)
    x = item_set(task)
    net = leaky_adder(0.8)
    gradient = im.gradient_scores(float64_twin(net), task, x)
    intervention = im.intervention_scores(net, task, x)
    order_g = np.lexsort((gradient.lag, gradient.sequence))
    order_i = np.lexsort((intervention.lag, intervention.sequence))
    np.testing.assert_array_equal(gradient.lag[order_g], intervention.lag[order_i])
    np.testing.assert_allclose(gradient.numerator, 0.8 ** gradient.lag, rtol=1e-6)
    np.testing.assert_allclose(intervention.numerator[order_i], gradient.numerator[order_g],
                               atol=2e-4)


@pytest.mark.parametrize("cell", ["lstm", "s6"])
def test_gradient_view_equals_full_backward_per_item_in_the_sets_row_order(cell):
    """The gradient view runs each chunk's steps before its earliest item outside autograd
    (`RecurrentNet.forward_from`), on sequences taken in the order of their earliest item: the
    derivatives equal a backward through every step, item by item, in the rows' order of x,
    for any chunk size."""
    task = make_task("adding", 16)
    x = item_set(task, per_lag=4).double()
    torch.manual_seed(0)
    net = float64_twin(RecurrentNet(cell, 2, 6, depth=2, num_outputs=1))
    items = task.memory_items(x)
    values = items.value.detach().requires_grad_(True)
    (reference,) = torch.autograd.grad(net(task.with_items(x, items, values)).sum(), values)
    for chunk in (None, 5, 1000):
        scores = im.gradient_scores(net, task, x, chunk_size=chunk)
        np.testing.assert_array_equal(scores.sequence, items.sequence.numpy())
        np.testing.assert_array_equal(scores.lag, items.lags(False))
        np.testing.assert_allclose(scores.numerator, reference.numpy(), rtol=1e-10, atol=1e-13)


def test_leaky_adder_item_memory_decays_at_minus_ln_f():
    task = make_task("adding", 30)
    curve = curve_of(leaky_adder(0.9), task, item_set(task), "gradient")
    lags = im.measured(curve)
    slope = np.polyfit(lags, np.log(curve[0, lags]), 1)[0]
    assert -slope == pytest.approx(-np.log(0.9), rel=1e-6)
    # memory 0.9^l > 1/2 up to l = 6 (0.53), not at 7 (0.48); forgotten (< 1/4) from l = 14
    assert im.span(curve)[0] == 6.0


@pytest.mark.parametrize("seq_len", [200, 1000])
def test_linear_regime_net_gradient_decays_at_minus_ln_a(seq_len):
    """tanh RNN with W_hh = a Q (Q orthogonal), zero biases, tiny inputs: dL/dh_t = a^d Q^d ...
    so g_d is proportional to a^d, decay rate -ln a = 0.1053605 for a = 0.9."""
    torch.manual_seed(0)
    task = make_task("adding", seq_len)
    net = RecurrentNet("rnn", 2, 16, depth=1, num_outputs=1, per_step_output=False)
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(16, 16, dtype=torch.float64))
        net.rnn.weight_hh_l0.copy_(0.9 * q)
        net.rnn.weight_ih_l0.mul_(1e-6)
        net.rnn.bias_ih_l0.zero_()
        net.rnn.bias_hh_l0.zero_()
    x, y = task.sample(2, torch.Generator().manual_seed(1))
    g = by_distance(probe(net, task, x, y).h_norm[0, 0], task, "fwd")
    assert summarise(g)["decay_rate"] == pytest.approx(-np.log(0.9), abs=1e-8)


def probe_curve(net: nn.Module, task: MemoryTask, x: Tensor) -> np.ndarray:
    """The per-lag curve of the view the harness takes at every probe (float32, flushed)."""
    return im.per_lag(im.probe_view(net, task, x), im.num_lags(task))


@pytest.mark.parametrize("forget", [1.0, 0.9])
def test_the_float32_probe_view_passes_the_adders_controls(forget):
    """The exact adder scores 1 at every lag, the leaky one f^l (decay -ln f), in the format
    the probe takes them in."""
    task = make_task("adding", 30)
    x = item_set(task)
    curve = probe_curve(leaky_adder(forget), task, x)
    lags = im.measured(curve)
    assert lags.tolist() == list(range(30))
    np.testing.assert_allclose(curve[0, lags], forget ** lags, rtol=1e-5)
    assert probe_curve(memoryless(RecurrentNet("gru", 2, 8, num_outputs=1,
                                               per_step_output=False)), task, x)[0].max() == 0


@pytest.mark.parametrize("delay", ["fixed", "variable"])
def test_the_float32_probe_view_passes_the_copiers_controls(delay):
    task = make_task("copy", 10, delay=delay)
    x = item_set(task)
    perfect, blind = (probe_curve(Copier(remember), task, x) for remember in (True, False))
    lags = im.measured(perfect)
    np.testing.assert_allclose(perfect[0, lags], 1.0, atol=1e-6)
    np.testing.assert_allclose(blind[0, lags], 0.0, atol=1e-6)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("task", [make_task("adding", 30), make_task("copy", 10)],
                         ids=["adding", "copy"])
def test_the_float32_probe_view_is_the_float64_view_to_float32_rounding(cell, task):
    """A number that changed with the float format alone would be an artefact: the probe view
    agrees with the float64 view to 1e-6 per lag (2-layer bidirectional nets at init)."""
    torch.manual_seed(1)
    net = RecurrentNet(cell, task.input_size, 16, depth=2, bidirectional=True,
                       num_outputs=task.num_outputs, per_step_output=task.per_step_output)
    x = item_set(task)
    reference = im.item_memory(float64_twin(net), task, x, im.views_of(task)[0])
    measured = probe_curve(net, task, x)
    lags = im.measured(reference)
    np.testing.assert_array_equal(im.measured(measured), lags)
    np.testing.assert_allclose(measured[0, lags], reference[0, lags], rtol=0, atol=1e-6)
    assert np.abs(reference[0, lags]).max() > 0  # not two zeros compared


def test_untrained_gru_at_the_baseline_does_not_score_full_memory():
    task = make_task("adding", 20)
    x = item_set(task)
    torch.manual_seed(0)
    net = RecurrentNet("gru", 2, 64, depth=1, num_outputs=1, per_step_output=False)
    for view in ("gradient", "intervention"):
        curve = curve_of(net, task, x, view)
        assert np.nanmax(np.abs(curve[0])) < 0.1
        assert im.span(curve) == (0.0, False)


@pytest.mark.parametrize("view", ["probability", "choice"])
@pytest.mark.parametrize("delay", ["fixed", "variable"])
def test_perfect_copier_scores_one_and_a_blind_one_zero_on_copy(view, delay):
    task = make_task("copy", 12 if delay == "variable" else 5, delay)
    x = item_set(task)
    lags = list(range(11 if delay == "variable" else 15, task.max_lag + 1))
    perfect = im.item_memory(Copier(True).double(), task, x, view)
    assert im.measured(perfect).tolist() == lags
    np.testing.assert_allclose(perfect[0, lags], 1.0, atol=1e-12)
    assert im.span(perfect) == (float(lags[-1]), True)
    blind = im.item_memory(Copier(False).double(), task, x, view)
    np.testing.assert_allclose(blind[0, lags], 0.0, atol=1e-12)
    assert im.span(blind) == (0.0, False)


@pytest.mark.parametrize("view", ["probability", "choice", "storage"])
def test_memoryless_recurrent_net_scores_zero_on_copy(view):
    task = make_task("copy", 5)
    x = item_set(task, per_lag=200)
    torch.manual_seed(0)
    net = memoryless(RecurrentNet("lstm", NUM_CLASSES, 16, depth=1, num_outputs=NUM_CLASSES,
                                  per_step_output=True, bidirectional=True))
    curve = curve_of(net, task, x, view)
    assert abs(curve[0, task.max_lag]) < (0.1 if view == "storage" else 1e-12)
    assert im.span(curve) == (0.0, False)


# --- the statistics -----------------------------------------------------------------------------


def test_t_quantiles_are_the_tables():
    for df, expected in ((1, 12.7062047), (2, 4.3026527), (9, 2.2621572), (29, 2.0452296),
                         (1000, 1.9623391)):
        assert t_quantile(0.95, df) == pytest.approx(expected, rel=1e-7)
    assert central_probability(t_quantile(0.9, 7), 7) == pytest.approx(0.9, abs=1e-12)


def scores(lags, numerator, denominator=None, sequence=None) -> im.Scores:
    numerator = np.asarray(numerator, dtype=float)
    return im.Scores(np.asarray(lags), np.arange(len(lags)) if sequence is None
                     else np.asarray(sequence), numerator,
                     np.ones_like(numerator) if denominator is None
                     else np.asarray(denominator, dtype=float))


def test_per_lag_mean_stderr_and_t_interval_by_hand():
    values = np.linspace(0.6, 1.0, 12)
    curve = im.per_lag(scores([2] * 12, values), 4)
    stderr = values.std(ddof=1) / np.sqrt(12)
    np.testing.assert_allclose(curve[:, 2], [values.mean(), stderr, 12,
                                             values.mean() - t_quantile(0.95, 11) * stderr,
                                             values.mean() + t_quantile(0.95, 11) * stderr])
    assert np.isnan(curve[0, [0, 1, 3]]).all() and curve[2].tolist() == [0, 0, 12, 0]


def test_a_lag_with_two_items_or_one_is_not_measured_and_ends_the_span():
    """Two items at 1.0 would pass a 1.96-sigma test; the lag is unmeasured instead, and the
    span, which needs every lag below it measured, stops before it; a single item at 0.0 at
    lag 3 never lies inside a span."""
    lags = [0] * 12 + [1] * 12 + [2, 2] + [3] + [4] * 12
    values = [1.0] * 24 + [1.0, 1.0] + [0.0] + [1.0] * 12
    curve = im.per_lag(scores(lags, values), 5)
    assert im.measured(curve).tolist() == [0, 1, 4]
    assert im.span(curve) == (1.0, False)


def test_the_delta_method_stderr_of_a_paired_ratio_matches_its_sampling_spread():
    """Copy's memory at a lag is a ratio of paired means, (mean P' - mean P) / (1 - mean P): its
    standard error keeps the variance of the unswapped P. Over 4000 simulated item sets the
    stated stderr matches the ratio's actual spread within 5%; dropping P's part (the old
    stderr) understates it."""
    rng = np.random.default_rng(0)
    n = 40
    for coupled in (True, False):  # the swapped P' following the reference, or not
        ratios, stated, naive = [], [], []
        for _ in range(4000):
            p = rng.uniform(0, 0.6, n)                 # the reference P(s') of each item
            base = p if coupled else 0.3
            p_swapped = np.clip(base + 0.3 + 0.2 * rng.standard_normal(n), 0, 1)
            curve = im.per_lag(scores([0] * n, p_swapped - p, 1 - p), 1)
            ratios.append(curve[0, 0])
            stated.append(curve[1, 0])
            naive.append(p_swapped.std(ddof=1) / np.sqrt(n) / (1 - p.mean()))
        spread = np.std(ratios)
        assert np.median(stated) == pytest.approx(spread, rel=0.05)
        if not coupled:
            assert np.median(naive) < 0.9 * spread


def test_the_interval_passes_a_memory_of_exactly_one_half_at_most_five_percent_of_the_time():
    rng = np.random.default_rng(1)
    for n in (im.MIN_ITEMS, 30):
        passes = 0
        for _ in range(4000):
            curve = im.per_lag(scores([0] * n, rng.normal(0.5, 0.2, n)), 1)
            passes += curve[3, 0] > 0.5
        assert passes / 4000 <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 4000)


def solved_adder_curve(first: float = 0.46) -> np.ndarray:
    """The reviewer's solved GRU on adding T = 20: lag 0 at 0.46 (the last item has one step to
    reach the output), lags 1-19 at 0.8-1.03, 30 items each."""
    rng = np.random.default_rng(2)
    lags, values = [], []
    for lag in range(20):
        mean = first if lag == 0 else 0.8 + 0.23 * lag / 19
        lags += [lag] * 30
        values += list(rng.normal(mean, 0.05, 30))
    return im.per_lag(scores(lags, values), 20)


def test_one_weak_lag_does_not_zero_the_span_of_a_solved_net():
    curve = solved_adder_curve()
    assert curve[4, 0] < 0.5  # lag 0 confidently below half...
    assert im.span(curve) == (19.0, True)  # ...and the span is still every lag
    short = curve[:, :5]  # a bidirectional net's five lags at T = 10, lag 0 weak
    assert im.span(short) == (4.0, True)
    two_weak = curve.copy()
    two_weak[[0, 3, 4], 1] = [0.45, 0.4, 0.49]  # a second weak lag among the first ten
    assert im.span(two_weak) == (19.0, True)    # 2 failures <= 20 / 10
    assert im.span(two_weak[:, :10]) == (0.0, False)  # but not among only ten lags


def test_a_lag_whose_items_score_zero_is_never_inside_the_span():
    curve = solved_adder_curve(first=0.9)
    curve[[0, 3, 4], 7] = 0.0  # lag 7 forgotten: its interval [0, 0]
    assert im.span(curve) == (6.0, False)


def test_a_chance_pass_beyond_the_memory_does_not_stretch_the_span():
    curve = solved_adder_curve(first=0.9)
    curve[[0, 3, 4], 10:] = [[0.4], [0.3], [0.49]]  # weak from lag 10 on: not forgotten
    curve[[0, 3, 4], 15] = [0.9, 0.8, 1.0]          # one lag passes by chance
    assert im.span(curve) == (9.0, False)


def test_capacity_sums_clipped_memory_with_a_reproducible_bootstrap_interval():
    rng = np.random.default_rng(3)
    lags = np.repeat(np.arange(10), 30)
    values = np.where(lags < 5, 1.0, 0.0) + rng.normal(0, 0.1, len(lags))
    items = scores(lags, values)
    head = im.capacity(items, 10)
    per = im.per_lag(items, 10)[0]
    assert head["capacity"] == pytest.approx(np.clip(per, 0, 1).sum())
    assert head["capacity_low"] < head["capacity"] < head["capacity_high"]
    assert 4.5 < head["capacity"] < 5.5 and head["measured_lags"] == 10
    assert head["capacity_fraction"] == pytest.approx(head["capacity"] / 10)
    assert im.capacity(items, 10) == head


# --- the contract: a task the measures have never seen ------------------------------------------


class FirstValueTask(MemoryTask):
    """A toy task defined here only: a sequence of T values, the answer is the first one, read
    after the last step. One value item per sequence, at position 0, lag T - 1."""

    name: ClassVar[str] = "first_value"
    input_size: ClassVar[int] = 1
    num_outputs: ClassVar[int] = 1
    per_step_output: ClassVar[bool] = False
    min_seq_len: ClassVar[int] = 1
    metric: ClassVar[str] = "mse"
    metric_label: ClassVar[str] = "MSE"
    higher_is_better: ClassVar[bool] = False
    solved_threshold: ClassVar[float] = 0.01
    item_kind: ClassVar[str] = "value"

    length = property(lambda self: self.seq_len)
    baseline = property(lambda self: 1 / 12)
    metric_baseline = property(lambda self: 1 / 12)
    loss_anchor = property(lambda self: self.seq_len - 1)
    information_steps = property(lambda self: np.array([0]))

    def sample(self, batch_size, generator):
        x = torch.rand(batch_size, self.seq_len, 1, generator=generator)
        return x, x[:, 0, 0]

    def loss(self, output, target):
        return ((output.squeeze(-1) - target) ** 2).mean()

    def metrics(self, output, target):
        return {"loss": self.loss(output, target), "mse": self.loss(output, target)}

    def recall_items(self, x, output, target):
        raise NotImplementedError

    def memory_items(self, x):
        n = len(x)
        zeros = torch.zeros(n, dtype=torch.int64)
        return MemoryItems(torch.arange(n), zeros, zeros, zeros - 1,
                           torch.stack([zeros + self.seq_len - 1, zeros], dim=1), x[:, 0, 0])

    def memory_set(self, items_per_lag, generator):
        return self.sample(items_per_lag, generator)[0]

    @property
    def max_lag(self):
        return self.seq_len - 1

    def replacement(self, x, items):
        return torch.remainder(items.value + 0.5, 1.0)


def test_a_task_defined_in_a_test_gets_every_view_and_headline_through_the_contract():
    task = FirstValueTask(6)
    x = item_set(task, per_lag=200)
    keeper = delay_line(6, input_size=1)  # holds v_0 in its last unit; the head reads it out
    with torch.no_grad():
        keeper.head.weight.zero_()
        keeper.head.weight[0, 5] = 1 / EPS
    for view in ("gradient", "intervention", "storage"):
        head = im.summary(im.scores(float64_twin(keeper) if view == "gradient" else keeper,
                                    task, x, view), task)
        assert im.measured(np.array(head["curve"])).tolist() == [5]
        assert head["curve"][0][5] == pytest.approx(1.0, abs=1e-4)
        assert head["span"] == 5.0 and head["capacity"] == pytest.approx(1.0, abs=1e-4)
    blind = memoryless(delay_line(6, input_size=1))
    assert im.summary(im.scores(blind, task, x, "intervention"), task)["capacity"] == 0.0
