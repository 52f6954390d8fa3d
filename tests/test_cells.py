"""The cells added to the registry (irnn, orth): their initialisation, the probe's g_t against
an independent float64 finite difference, orthogonality kept through training, and a cell
defined here being picked up by the net, the probe and config validation."""

from typing import ClassVar

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import Tensor

from rnnmem.config import ConfigError, RunConfig, validate_fields
from rnnmem.measures.probe import probe
from rnnmem.models import CELLS, RecurrentNet
from rnnmem.models.cells import Cell, Gates
from rnnmem.tasks import make_task

H = 4


def numpy_activation(cell: str, z: np.ndarray, b_hh: np.ndarray) -> np.ndarray:
    """The two cells' step, written again in numpy from their papers: IRNN relu(z + b_hh),
    orth modReLU sign(z) max(|z| + b, 0) with b = b_hh (z without b_hh)."""
    if cell == "irnn":
        return np.maximum(z + b_hh, 0.0)
    return np.sign(z) * np.maximum(np.abs(z) + b_hh, 0.0)


def sequence_loss(cell: str, weights: dict[str, np.ndarray], x: np.ndarray, y: float,
                  t: int, delta: np.ndarray) -> float:
    """l = (y_hat - y)^2 of one adding sequence x (T, 2) through a one-layer net, with `delta`
    added to h_t: dl/dh_t by finite differences of this function is the total derivative."""
    h = np.zeros(H)
    for s in range(len(x)):
        z = weights["w_ih"] @ x[s] + weights["b_ih"] + weights["w_hh"] @ h
        h = numpy_activation(cell, z, weights["b_hh"])
        if s == t:
            h = h + delta
    y_hat = float(weights["w_out"] @ h + weights["b_out"])
    return (y_hat - y) ** 2


@pytest.mark.parametrize("cell", ["irnn", "orth"])
def test_probe_state_gradient_matches_float64_finite_difference(cell):
    task = make_task("adding", 6)
    torch.manual_seed(3)
    net = RecurrentNet(cell, task.input_size, H, depth=1, num_outputs=task.num_outputs,
                       per_step_output=task.per_step_output)
    with torch.no_grad():  # away from IRNN's near-silent init, so every step matters
        for p in net.parameters():
            p.add_(0.4 * torch.randn_like(p))
        net.rnn.bias_ih_l0.add_(1.0)  # most ReLU units active, so gradient reaches t = 0
    net = net.double()
    x, y = task.sample(3, torch.Generator().manual_seed(0))
    g = probe(net, task, x, y, chunk_size=2).h_norm[0, 0]  # (T,)
    weights = {"w_ih": net.rnn.weight_ih_l0, "b_ih": net.rnn.bias_ih_l0,
               "w_hh": net.rnn.weight_hh_l0, "b_hh": net.rnn.bias_hh_l0,
               "w_out": net.head.weight[0], "b_out": net.head.bias[0]}
    weights = {k: v.detach().numpy().astype(np.float64) for k, v in weights.items()}
    xs, ys, eps = x.double().numpy(), y.double().numpy(), 1e-6
    expected = np.zeros(task.length)
    for t in range(task.length):
        squares = 0.0
        for b in range(len(xs)):
            grad = [(sequence_loss(cell, weights, xs[b], ys[b], t, eps * e)
                     - sequence_loss(cell, weights, xs[b], ys[b], t, -eps * e)) / (2 * eps)
                    for e in np.eye(H)]
            squares += float(np.sum(np.square(grad)))
        expected[t] = np.sqrt(squares / len(xs))
    assert expected.min() > 1e-3  # a non-trivial gradient at every step
    np.testing.assert_allclose(g, expected, rtol=1e-6)


def test_irnn_starts_from_identity_recurrence_and_zero_biases():
    net = RecurrentNet("irnn", 3, H, depth=2, num_outputs=1, per_step_output=False,
                       bidirectional=True)
    assert net.rnn.nonlinearity == "relu"
    for name, p in net.rnn.named_parameters():
        if name.startswith("weight_hh"):
            torch.testing.assert_close(p, torch.eye(H))
        elif name.startswith("bias"):
            assert p.abs().max() == 0
        else:
            assert 0 < p.std() < 3e-3  # N(0, 0.001^2)


def recurrent_matrices(net: RecurrentNet) -> list[Tensor]:
    directions = ("", "_reverse")[: net.num_directions]
    suffixes = [f"_l{k}{s}" for k in range(net.depth) for s in directions]
    return [getattr(net.rnn, "weight_hh" + suffix) for suffix in suffixes]


def test_orth_recurrence_stays_orthogonal_through_training():
    """60 RMSprop steps at a large lr (1e-2) on copy: W_hh moves, and W W^T = I to 1e-6."""
    task = make_task("copy", 5)
    torch.manual_seed(0)
    net = RecurrentNet("orth", task.input_size, 16, depth=2, num_outputs=task.num_outputs,
                       per_step_output=task.per_step_output,
                       bidirectional=True)
    start = [w.detach().clone() for w in recurrent_matrices(net)]
    optimiser = torch.optim.RMSprop(net.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(60):
        x, y = task.sample(16, generator)
        loss = task.loss(net(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    for before, w in zip(start, recurrent_matrices(net), strict=True):
        w = w.detach().double()  # the float32 matrix, multiplied without float32 rounding
        assert (w - before).abs().max() > 0.05  # it trained
        eye = torch.eye(16, dtype=torch.float64)
        assert (w @ w.T - eye).abs().max() < 1e-6
        assert (w.T @ w - eye).abs().max() < 1e-6


def test_orth_float64_twin_is_orthogonal_and_probe_finite():
    """The probe's float64 twin keeps the parametrization (its matrix exponential in float64)."""
    task = make_task("copy", 4)
    net = RecurrentNet("orth", task.input_size, 8, depth=1, num_outputs=task.num_outputs,
                       per_step_output=task.per_step_output)
    twin = net.double()
    w = twin.rnn.weight_hh_l0.detach()
    assert w.dtype == torch.float64
    assert (w @ w.T - torch.eye(8, dtype=torch.float64)).abs().max() < 1e-12


class Leaky(Cell):
    """A cell defined only here: h' = 0.5 h + 0.5 tanh(W_ih x + b_ih + W_hh h + b_hh)."""

    name, label = "leaky", "leaky RNN"
    gates: ClassVar[tuple[str, ...]] = ("keep",)

    @staticmethod
    def step(xp: Tensor, h: Tensor, c: None, w_hh: Tensor, b_hh: Tensor
             ) -> tuple[Tensor, None, Gates]:
        keep = torch.full_like(h, 0.5)
        return keep * h + (1 - keep) * torch.tanh(xp + h @ w_hh.T + b_hh), None, {"keep": keep}


def test_a_cell_is_one_class_and_one_registry_entry(monkeypatch):
    monkeypatch.setitem(CELLS, "leaky", Leaky)
    task = make_task("adding", 5)
    net = RecurrentNet("leaky", task.input_size, H, depth=2, num_outputs=1, per_step_output=False,
                       bidirectional=True)
    x, y = task.sample(4, torch.Generator().manual_seed(0))
    torch.testing.assert_close(net.unrolled(x).output, net(x))  # UnfusedLayers trains it
    result = probe(net, task, x, y)
    assert result.gate_names == ("keep",)
    np.testing.assert_allclose(result.gate_mean, 0.5)
    cfg = OmegaConf.merge(OmegaConf.structured(RunConfig),
                          {"model": {"cell": "leaky"}, "name": "x"})
    validate_fields(cfg)
    monkeypatch.delitem(CELLS, "leaky")
    with pytest.raises(ConfigError, match="model.cell='leaky' is not one of: rnn, lstm, gru, "
                                          "irnn, orth, mingru, minlstm, lru, s6"):
        validate_fields(cfg)
