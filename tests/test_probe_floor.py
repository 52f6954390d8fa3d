"""The probe's norms are exact down to float64's smallest normal number, 2.2e-308: checked at
T=1000 against an independent numpy backprop that carries every gradient as a unit vector and
a log norm, so that it has no floor at all."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnmem.measures.probe import FLOOR, ScaledSquares, by_distance, probe, summarise
from rnnmem.models import RecurrentNet
from rnnmem.tasks import make_task


def log_space_backprop(net: RecurrentNet, x: np.ndarray, y: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """ln g_t and ln s_t of a one-layer tanh RNN with a per-sequence readout (adding), by
    rescaled backprop in numpy: delta_t = exp(lam_t) u_t with ||u_t|| = 1, per sequence; then
    ln sqrt(mean_b exp(2 lam_bt)) by log-sum-exp. No number is ever below ~1e-30."""
    p = {k: v.detach().double().numpy() for k, v in net.named_parameters()}
    w_ih, w_hh = p["rnn.weight_ih_l0"], p["rnn.weight_hh_l0"]
    bias = p["rnn.bias_ih_l0"] + p["rnn.bias_hh_l0"]
    w_out, b_out = p["head.weight"][0], p["head.bias"][0]
    batch, length, _ = x.shape
    log_h = np.zeros((batch, length))
    log_x = np.zeros((batch, length))
    for b in range(batch):
        h = np.zeros(w_hh.shape[0])
        hs = []
        for t in range(length):
            h = np.tanh(w_ih @ x[b, t] + bias + w_hh @ h)
            hs.append(h)
        residual = 2.0 * (w_out @ h + b_out - y[b])
        delta = residual * w_out
        lam = np.log(np.linalg.norm(delta))
        u = delta / np.linalg.norm(delta)
        for t in range(length - 1, -1, -1):
            log_h[b, t] = lam
            pre = (1.0 - hs[t] ** 2) * u  # d/d(pre-activation), in units of exp(lam)
            log_x[b, t] = lam + np.log(np.linalg.norm(w_ih.T @ pre))
            nxt = w_hh.T @ pre
            size = np.linalg.norm(nxt)
            lam, u = lam + np.log(size), nxt / size

    def log_rms(logs: np.ndarray) -> np.ndarray:
        top = logs.max(axis=0)
        return top + 0.5 * np.log(np.exp(2 * (logs - top)).mean(axis=0))

    return log_rms(log_h), log_rms(log_x)


@pytest.mark.slow
def test_vanilla_rnn_at_t1000_matches_log_space_backprop_below_1e154():
    """Adding T=1000, H=128, at init: g_t falls to ~1e-220, far below where squared elements
    underflow (1.5e-154); every value matches the floorless reference to 1e-9 relative."""
    torch.manual_seed(0)
    task = make_task("adding", 1000)
    net = RecurrentNet("rnn", task.input_size, 128, depth=1, num_outputs=task.num_outputs,
                       per_step_output=task.per_step_output)
    x, y = task.sample(4, torch.Generator().manual_seed(1))
    result = probe(net, task, x, y, chunk_size=3)  # two chunks of unequal size
    ln_g, ln_s = log_space_backprop(net, x.double().numpy(), y.double().numpy())
    assert ln_g.min() / np.log(10) < -200, "the test reaches far below 1e-154"
    assert ln_g.min() > np.log(FLOOR), "and stays inside float64's normal range"
    np.testing.assert_allclose(np.log(result.h_norm[0, 0]), ln_g, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.log(result.x_norm), ln_s, rtol=0, atol=1e-9)
    summary = summarise(by_distance(result.h_norm[0, 0], task, "fwd"))
    assert not summary["grad_ratio_is_bound"]
    assert summary["log10_grad_ratio"] == pytest.approx((ln_g[0] - ln_g[-1]) / np.log(10),
                                                        abs=1e-8)


def test_scaled_squares_are_exact_where_plain_squares_underflow():
    g = torch.tensor([[3e-200, 4e-200], [0.0, 0.0], [3e-300, 4e-300]], dtype=torch.float64)
    assert (g.pow(2).sum(dim=1) == 0).all(), "plain squares lose all three"
    a, b = ScaledSquares.of(g[:, :1]), ScaledSquares.of(g[:, 1:])
    np.testing.assert_allclose(a.add(b).rms(1).numpy(), [5e-200, 0.0, 5e-300], rtol=1e-15)
    np.testing.assert_allclose(ScaledSquares.of_each(list(g)).rms(2).numpy(),
                               np.array([5e-200, 0.0, 5e-300]) / np.sqrt(2), rtol=1e-15)


def test_bound_flag_only_when_g_leaves_the_normal_range():
    g = np.array([1.0, 1e-200, 1e-300, 1e-307])
    assert not summarise(g)["grad_ratio_is_bound"]
    assert summarise(np.array([1.0, 1e-200, 1e-310]))["grad_ratio_is_bound"]
