"""The gradient probe against an independent reference, its summaries, and the physics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rnnmem.measures.probe import by_distance, probe, summarise
from rnnmem.models import CELLS, RecurrentNet
from rnnmem.tasks import make_task
from rnnmem.training.callbacks import GradientProbe


def single_layer_copy(net: RecurrentNet, layer: int, direction: int) -> nn.Module:
    """A one-layer fused module holding the weights of one (layer, direction) of `net`."""
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    source = net.rnn
    inputs = source.input_size if layer == 0 else source.hidden_size * net.num_directions
    module = CELLS[net.cell].layers(inputs, source.hidden_size, 1, False).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(module, f"{name}_l0").copy_(getattr(source, name + suffix))
    return module


def reference_norms(net: RecurrentNet, task, x, y) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-sequence RMS of ||dl_b/dh_t||: each sequence on its own through `frobenius_norms`."""
    per_sequence = [frobenius_norms(net, task, x[b : b + 1], y[b : b + 1])
                    for b in range(len(x))]
    h = np.sqrt(np.mean([h**2 for h, _ in per_sequence], axis=0))
    c = None if net.cell != "lstm" else np.sqrt(np.mean([c**2 for _, c in per_sequence], axis=0))
    return h, c


def frobenius_norms(net: RecurrentNet, task, x, y) -> tuple[np.ndarray, np.ndarray | None]:
    """||dL/dh_t|| by calling fused one-layer modules one step at a time with retain_grad."""
    batch, length, _ = x.shape
    lstm = net.cell == "lstm"
    h_states, c_states = [], []
    layer_input = x
    for layer in range(net.depth):
        outputs, hs, cs = [], [], []
        for direction in range(net.num_directions):
            module = single_layer_copy(net, layer, direction)
            zeros = torch.zeros(1, batch, net.hidden_size, dtype=x.dtype)
            state = (zeros, zeros) if lstm else zeros
            h_t = [None] * length
            c_t = [None] * length
            order = range(length) if direction == 0 else range(length - 1, -1, -1)
            for t in order:
                _, state = module(layer_input[:, t : t + 1], state)
                h = state[0] if lstm else state
                h.retain_grad()
                h_t[t] = h
                if lstm:
                    state[1].retain_grad()
                    c_t[t] = state[1]
            outputs.append(torch.stack([h[0] for h in h_t], dim=1))  # (B, T, H)
            hs.append(h_t)
            cs.append(c_t)
        h_states.append(hs)
        c_states.append(cs)
        layer_input = torch.cat(outputs, dim=-1)
    out = net.readout(layer_input)
    task.memory_loss(out, y).backward()
    h_norm = np.array([[[h.grad.norm().item() for h in d] for d in layer] for layer in h_states])
    c_norm = None
    if lstm:
        c_norm = np.array([
            [[cell_state_total_grad(h, c).norm().item() for h, c in zip(hd, cd, strict=True)]
             for hd, cd in zip(hl, cl, strict=True)]
            for hl, cl in zip(h_states, c_states, strict=True)
        ])
    return h_norm, c_norm


def cell_state_total_grad(h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """dL/dc_t in total: a fused step returns h_t and c_t as outputs of one node, so c_t.grad
    holds only the path through the next step; add the path through h_t = o_t tanh(c_t), with
    o_t = h_t / tanh(c_t) read off the fused outputs."""
    through_next = c.grad if c.grad is not None else torch.zeros_like(c)
    tanh_c = torch.tanh(c.detach())
    o = h.detach() / tanh_c
    return through_next + h.grad * o * (1 - tanh_c**2)


@pytest.mark.parametrize("task_name,seq_len", [("adding", 12), ("copy", 5)])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_probe_matches_hand_unrolled_autograd(cell, bidirectional, task_name, seq_len):
    torch.manual_seed(0)
    task = make_task(task_name, seq_len)
    net = RecurrentNet(cell, task.input_size, 16, depth=2, num_outputs=task.num_outputs,
                       per_step_output=task.per_step_output,
                       bidirectional=bidirectional).double()
    x, y = task.sample(8, torch.Generator().manual_seed(1))
    x = x.double()
    y = y.double() if y.is_floating_point() else y
    result = probe(net, task, x, y, chunk_size=3)  # chunks of 3, 3 and 2 sequences
    assert all(p.grad is None for p in net.parameters())
    h_ref, c_ref = reference_norms(net, task, x, y)
    assert result.h_norm.shape == (2, 1 + bidirectional, task.length)
    np.testing.assert_allclose(result.h_norm, h_ref, rtol=1e-5, atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(result.c_norm, c_ref, rtol=1e-5, atol=1e-12)
    else:
        assert result.c_norm is None


def test_probe_leaves_training_untouched():
    task = make_task("adding", 20)
    net = RecurrentNet("lstm", 2, 8, depth=1, num_outputs=1, per_step_output=False)
    x, y = task.sample(4, torch.Generator().manual_seed(0))
    rng = torch.get_rng_state()
    before = [p.detach().clone() for p in net.parameters()]
    probe(net, task, x, y)
    assert torch.equal(rng, torch.get_rng_state())
    assert all(p.grad is None for p in net.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_vanilla_rnn_gradient_vanishes_over_50_steps_at_init():
    torch.manual_seed(0)
    task = make_task("adding", 60)
    net = RecurrentNet("rnn", 2, 64, depth=1, num_outputs=1, per_step_output=False)
    x, y = task.sample(64, torch.Generator().manual_seed(0))
    g = by_distance(probe(net, task, x, y).h_norm[0, 0], task, "fwd")
    assert g[50] / g[0] < 1e-3, "a tanh RNN at init loses orders of magnitude over 50 steps"
    summary = summarise(g)
    assert summary["log10_grad_ratio"] < -3
    assert summary["decay_rate"] > 0.1
    assert summary["memory_horizon"] < 50


def test_summaries_of_a_known_exponential():
    g = 10.0 * np.exp(-0.5 * np.arange(30))
    summary = summarise(g, threshold=1e-2)
    assert summary["decay_rate"] == pytest.approx(0.5)
    assert summary["log10_grad_ratio"] == pytest.approx(-0.5 * 29 / np.log(10))
    # g_d / g_0 = e^{-d/2} >= 1e-2  <=>  d <= 2 ln 100 = 9.21
    assert summary["memory_horizon"] == 9


def test_horizon_is_the_largest_distance_above_threshold():
    g = np.array([1.0, 1e-3, 1e-3, 0.5, 1e-4])
    assert summarise(g, threshold=1e-2)["memory_horizon"] == 3


def test_distance_runs_back_from_the_readout_forward_and_on_from_it_backward():
    adding = make_task("adding", 10)  # readout: fwd after t = 9, bwd after t = 0
    g = np.arange(10.0)
    np.testing.assert_array_equal(by_distance(g, adding, "fwd"), g[::-1])
    np.testing.assert_array_equal(by_distance(g, adding, "bwd"), g)
    copy = make_task("copy", 5)  # recall at t = 15 .. 24: fwd reaches back to t = 0
    g = np.arange(25.0)
    np.testing.assert_array_equal(by_distance(g, copy, "fwd"), np.arange(15.0, -1, -1))
    np.testing.assert_array_equal(by_distance(g, copy, "bwd"), np.arange(15.0, 25))


def test_backward_copy_gradient_lives_only_after_the_first_recall_position():
    torch.manual_seed(0)
    task = make_task("copy", 6)
    net = RecurrentNet("gru", task.input_size, 8, depth=1, num_outputs=task.num_outputs,
                       per_step_output=True, bidirectional=True)
    x, y = task.sample(4, torch.Generator().manual_seed(0))
    g = probe(net, task, x, y).h_norm[0, 1]
    assert (g[: task.backward_anchor] == 0).all()
    assert (by_distance(g, task, "bwd") > 0).all()


def test_lstm_gate_statistics_are_per_timestep_means():
    torch.manual_seed(0)
    task = make_task("adding", 10)
    net = RecurrentNet("lstm", 2, 8, depth=2, num_outputs=1, per_step_output=False,
                       bidirectional=True)
    x, y = task.sample(4, torch.Generator().manual_seed(0))
    result = probe(net, task, x, y, saturation=0.95, chunk_size=3)
    assert result.gate_names == ("input", "forget", "output")
    assert result.gate_mean.shape == (2, 2, 3, 10)
    out = net.unrolled(x, gates=True)
    forget = torch.stack([step["forget"] for step in out.gates[1][1]])  # (T, B, H)
    np.testing.assert_allclose(result.gate_mean[1, 1, 1], forget.mean(dim=(1, 2)).detach(),
                               rtol=1e-6)
    assert result.gate_mean.dtype == np.float64
    saturated = ((forget > 0.95) | (forget < 0.05)).float().mean(dim=(1, 2))
    np.testing.assert_allclose(result.gate_saturated[1, 1, 1], saturated, rtol=1e-6)


def test_probe_schedule_is_step_zero_every_n_and_the_end():
    task = make_task("adding", 10)
    x, y = task.sample(4, torch.Generator().manual_seed(0))
    callback = GradientProbe(task, x, y, every_n_steps=3)

    class Stub:
        net = RecurrentNet("gru", 2, 4, depth=1, num_outputs=1, per_step_output=False)
        device = torch.device("cpu")

    class Trainer:
        global_step = 0

    for step in range(8):
        Trainer.global_step = step
        callback.on_train_batch_start(Trainer, Stub, None, step)
    Trainer.global_step = 8
    callback.on_train_end(Trainer, Stub)
    callback.on_train_end(Trainer, Stub)
    assert [r.step for r in callback.results] == [0, 3, 6, 8]
    arrays = callback.arrays()
    assert arrays["h_norm"].shape == (4, 1, 1, 10)
    assert arrays["memory_horizon"].shape == (4, 1, 1)
