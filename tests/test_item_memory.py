"""Item memory on an absolute scale, proven on constructed networks with known answers: a
memoryless net (0), an exact adder (1), a leaky adder (f^l: decay -ln f), the linear regime
W_hh = aQ (decay -ln a), an untrained GRU (not full memory), a perfect copier (1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rnnmem.measures.item_memory import (
    Items,
    gradient_items,
    intervention_items,
    item_memory,
    per_lag,
    span,
)
from rnnmem.measures.probe import by_distance, float64_twin, memory_coverage, probe, summarise
from rnnmem.models import RecurrentNet
from rnnmem.tasks import make_task
from rnnmem.tasks.copy import NUM_CLASSES, RECALL_LEN

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


def memoryless(net: RecurrentNet) -> RecurrentNet:
    with torch.no_grad():
        for name, p in net.rnn.named_parameters():
            if name.startswith("weight_ih_l0"):
                p.zero_()
    return net


def adding(seq_len: int = 20, batch: int = 400):
    task = make_task("adding", seq_len)
    x, y = task.sample(batch, torch.Generator().manual_seed(3))
    return task, x, y


def copy_task(seq_len: int = 5, batch: int = 200):
    task = make_task("copy", seq_len)
    x, y = task.sample(batch, torch.Generator().manual_seed(4))
    return task, x, y


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_memoryless_net_scores_zero_at_every_lag_and_on_every_headline(cell, bidirectional):
    task, x, y = adding()
    torch.manual_seed(0)
    net = memoryless(RecurrentNet(cell, 2, 16, depth=2, num_outputs=1, per_step_output=False,
                                  bidirectional=bidirectional))
    for view in ("gradient", "intervention"):
        source = float64_twin(net) if view == "gradient" else net
        curve = item_memory(source, task, x, view)
        measured = curve[2] > 0
        np.testing.assert_array_equal(curve[0, measured], 0.0)
        assert span(curve) == (0.0, False)
    assert memory_coverage(probe(net, task, x[:16], y[:16]).x_norm, task) == 0.0


@pytest.mark.parametrize("bidirectional", [False, True])
def test_exact_adder_scores_one_at_every_lag_in_both_views(bidirectional):
    task, x, y = adding()
    net = leaky_adder(1.0, bidirectional)
    assert float(((net(x).detach().squeeze(1) - y) ** 2).mean()) < 1e-12, "it does add"
    gradient = item_memory(float64_twin(net), task, x, "gradient")
    intervention = item_memory(net, task, x, "intervention")
    measured = gradient[2] > 0
    largest = 19 if not bidirectional else 9  # both ends read: lag = min(T-1-p, p) < T/2
    assert np.flatnonzero(measured).max() == largest and measured[: largest + 1].all()
    np.testing.assert_allclose(gradient[0, measured], 1.0, atol=1e-7)
    np.testing.assert_allclose(intervention[0, measured], 1.0, atol=1e-5)
    assert span(gradient) == (float(largest), True)
    assert span(intervention) == (float(largest), True)


def test_for_a_net_linear_in_v_both_views_agree_per_item():
    """The leaky adder (f = 0.8) is linear in v: the intervention's difference quotient equals
    the derivative item by item, and both equal f^lag."""
    task, x, _ = adding()
    net = leaky_adder(0.8)
    gradient = gradient_items(float64_twin(net), task, x)
    intervention = intervention_items(net, task, x)
    np.testing.assert_array_equal(gradient.lag, intervention.lag)
    np.testing.assert_allclose(gradient.value, 0.8 ** gradient.lag, rtol=1e-6)
    np.testing.assert_allclose(intervention.value, gradient.value, atol=2e-4)


def test_leaky_adder_item_memory_decays_at_minus_ln_f():
    task, x, _ = adding(30)
    curve = item_memory(float64_twin(leaky_adder(0.9)), task, x, "gradient")
    lags = np.flatnonzero(curve[2] > 0)
    slope = np.polyfit(lags, np.log(curve[0, lags]), 1)[0]
    assert -slope == pytest.approx(-np.log(0.9), rel=1e-6)
    # memory 0.9^l > 1/2 up to l = 6 (0.53), not at 7 (0.48): the span
    assert span(curve)[0] == 6.0


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


def test_untrained_gru_at_the_baseline_does_not_score_full_memory():
    task, x, y = adding(20, 1000)
    torch.manual_seed(0)
    net = RecurrentNet("gru", 2, 64, depth=1, num_outputs=1, per_step_output=False)
    assert float(((net(x).detach().squeeze(1) - y) ** 2).mean()) > task.baseline
    for view in ("gradient", "intervention"):
        curve = item_memory(float64_twin(net) if view == "gradient" else net, task, x, view)
        assert np.nanmax(np.abs(curve[0])) < 0.1
        assert span(curve) == (0.0, False)


class Copier(nn.Module):
    """A perfect copier as a constructed output function (not a recurrent net: recalling ten
    3-bit symbols after T steps by hand-set LSTM weights is impractical): logits BIG for the
    input symbol a_i at its recall position d + 1 + i, BIG for blank elsewhere."""

    num_directions = 1

    def __init__(self, remember: bool = True) -> None:
        super().__init__()
        self.remember = remember
        self.dummy = nn.Parameter(torch.zeros(()))  # gives the device and dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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


@pytest.mark.parametrize("view", ["gradient", "intervention"])
def test_perfect_copier_scores_one_and_memoryless_zero_on_copy(view):
    task, x, y = copy_task()
    perfect = item_memory(Copier(True).double(), task, x, view)
    lag = task.seq_len + RECALL_LEN
    assert np.flatnonzero(perfect[2]).tolist() == [lag]
    assert perfect[0, lag] == pytest.approx(1.0, abs=1e-12)
    assert span(perfect) == (float(lag), True)
    blind = item_memory(Copier(False).double(), task, x, view)
    assert blind[0, lag] == pytest.approx(0.0, abs=1e-12)
    assert span(blind) == (0.0, False)


@pytest.mark.parametrize("view", ["gradient", "intervention"])
def test_memoryless_recurrent_net_scores_zero_on_copy(view):
    task, x, _ = copy_task()
    torch.manual_seed(0)
    net = memoryless(RecurrentNet("lstm", NUM_CLASSES, 16, depth=1, num_outputs=NUM_CLASSES,
                                  per_step_output=True, bidirectional=True))
    source = float64_twin(net) if view == "gradient" else net
    curve = item_memory(source, task, x, view)
    assert curve[0, task.seq_len + RECALL_LEN] == 0.0


def test_per_lag_stderr_and_span_by_hand():
    items = Items(np.array([0, 0, 1, 1, 1, 3]), np.array([1.0, 0.8, 0.9, 0.7, 0.8, 1.0]))
    curve = per_lag(items, 5)
    np.testing.assert_allclose(curve[0, :2], [0.9, 0.8])
    np.testing.assert_allclose(curve[1, :2], [np.std([1, 0.8], ddof=1) / np.sqrt(2),
                                             np.std([0.9, 0.7, 0.8], ddof=1) / np.sqrt(3)])
    np.testing.assert_array_equal(curve[2], [2, 3, 0, 1, 0])
    # lag 3 has one item: not measured; lags 0 and 1 pass (0.9 - 1.96 * 0.1 > 0.5)
    assert span(curve) == (1.0, True)
    assert span(curve, fraction=0.75) == (0.0, False)


def test_variable_delay_copy_gives_a_curve_over_many_lags():
    task = make_task("copy", 12, "variable")
    x, _ = task.sample(400, torch.Generator().manual_seed(6))
    for view in ("gradient", "intervention"):
        perfect = item_memory(Copier(True).double(), task, x, view)
        lags = np.flatnonzero(perfect[2])
        assert lags.tolist() == list(range(11, 23))
        np.testing.assert_allclose(perfect[0, lags], 1.0, atol=1e-12)
        assert span(perfect) == (22.0, True)
        blind = item_memory(Copier(False).double(), task, x, view)
        np.testing.assert_allclose(blind[0, lags], 0.0, atol=1e-12)
