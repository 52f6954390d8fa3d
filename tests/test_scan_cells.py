"""The linear diagonal cells (minGRU, minLSTM, LRU, S6): the parallel scan against a loop, the
parallel path against the step path at long T, each cell's forward and the probe's g_t against
an independent numpy implementation of its paper's equations (central finite differences of
the state), their initialisations, gates, float64 twins and bf16 autocast."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import Tensor

from rnnmem.measures.probe import float64_twin, probe
from rnnmem.models import CELLS, RecurrentNet
from rnnmem.models.s6 import dt_rank
from rnnmem.models.scan import ScanCell, linear_scan
from rnnmem.tasks import make_task

SCAN_CELLS = [cell for cell, spec in CELLS.items() if issubclass(spec, ScanCell)]


def loop(a: Tensor, b: Tensor) -> Tensor:
    """h_t = a_t h_{t-1} + b_t, h_{-1} = 0, one step at a time."""
    h, out = torch.zeros_like(b[:, 0]), []
    for t in range(b.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("length", [*range(1, 18), 64, 101])
def test_linear_scan_equals_the_loop_for_every_length(length):
    generator = torch.Generator().manual_seed(length)
    a = torch.rand(3, length, 4, generator=generator, dtype=torch.float64) * 2 - 1
    b = torch.randn(3, length, 4, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(linear_scan(a, b), loop(a, b), rtol=1e-12, atol=1e-12)
    # complex, with one a for every sequence (as the LRU's constant λ)
    lam = torch.polar(torch.rand(1, 1, 5, generator=generator, dtype=torch.float64),
                      6.28 * torch.rand(1, 1, 5, generator=generator, dtype=torch.float64))
    a = lam.expand(1, length, 5)
    b = torch.randn(3, length, 5, generator=generator, dtype=torch.complex128)
    torch.testing.assert_close(linear_scan(a, b), loop(a.expand(3, -1, -1), b),
                               rtol=1e-12, atol=1e-12)


def make_net(cell: str, dtype: torch.dtype, bidirectional: bool = True, depth: int = 2,
             hidden: int = 5) -> RecurrentNet:
    torch.manual_seed(0)
    net = RecurrentNet(cell, 3, hidden, depth=depth, num_outputs=4, per_step_output=True,
                       bidirectional=bidirectional)
    return net.to(dtype)


def scan_states(net: RecurrentNet, x: Tensor) -> list[list[Tensor]]:
    """Every layer's and direction's states from the parallel path, (B, L, *S) in time order."""
    states, inp = [], x
    for layer in range(net.depth):
        outs, hs = [], []
        for d in range(net.num_directions):
            out, h = net.rnn.direction(layer, d)(inp.flip(1) if d else inp)
            outs.append(out.flip(1) if d else out)
            hs.append(h.flip(1) if d else h)
        states.append(hs)
        inp = torch.cat(outs, dim=-1)
    return states


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)],
                         ids=["f32", "f64"])
@pytest.mark.parametrize("cell", SCAN_CELLS)
def test_parallel_path_equals_step_path_at_long_length(cell, dtype, tol):
    """T = 300, two bidirectional layers: outputs and every state of every layer, direction and
    step, to 1e-5 in float32 and 1e-12 in float64; parameter gradients in float64 to 1e-10."""
    net = make_net(cell, dtype)
    x = torch.randn(2, 300, 3, generator=torch.Generator().manual_seed(1), dtype=dtype)
    parallel, u = net(x), net.unrolled(x)
    torch.testing.assert_close(u.output, parallel, rtol=tol, atol=tol)
    for layer, directions in enumerate(scan_states(net, x)):
        for d, h in enumerate(directions):
            torch.testing.assert_close(torch.stack(u.h[layer][d], dim=1), h, rtol=tol, atol=tol)
    if dtype == torch.float64:
        w = torch.randn_like(parallel)
        params = list(net.parameters())
        grads = torch.autograd.grad((parallel * w).sum(), params)
        unrolled = torch.autograd.grad((u.output * w).sum(), params)
        for g_parallel, g_step in zip(grads, unrolled, strict=True):
            torch.testing.assert_close(g_step, g_parallel, rtol=1e-10, atol=1e-10)


# --- an independent implementation: numpy, from each paper's equations -----------------------

def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-v))


def softplus(v: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(v))


def silu(v: np.ndarray) -> np.ndarray:
    return v * sigmoid(v)


def gelu(v: np.ndarray) -> np.ndarray:
    return 0.5 * v * (1 + np.vectorize(math.erf)(v / math.sqrt(2)))


def g(v: np.ndarray) -> np.ndarray:
    """minGRU's g: v + 1/2 for v >= 0, sigmoid(v) otherwise."""
    return np.where(v >= 0, v + 0.5, sigmoid(v))


def weights(net: RecurrentNet) -> dict[str, np.ndarray]:
    """The one layer's parameters and the head's, as float64 numpy arrays."""
    named = {name.removeprefix("rnn.l0."): p for name, p in net.named_parameters()}
    return {name: p.detach().double().numpy() for name, p in named.items()}


NumpyLayer = tuple[np.ndarray, Callable, Callable]


def numpy_layer(cell: str, w: dict[str, np.ndarray]) -> NumpyLayer:
    """(h_{-1}, step(x_t, h) -> (h_t, context), output(h_t, context) -> o_t) of one layer of
    `cell`, written again from its paper: the LRU's state complex, S6's (H, N)."""
    if cell in ("mingru", "minlstm"):
        hidden = w["linear.bias"].shape[0] // (2 if cell == "mingru" else 3)

        def step(x_t: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, None]:
            k = w["linear.weight"] @ x_t + w["linear.bias"]
            if cell == "mingru":
                z = sigmoid(k[:hidden])
                return (1 - z) * h + z * g(k[hidden:]), None
            f, i = sigmoid(k[:hidden]), sigmoid(k[hidden : 2 * hidden])
            return f / (f + i) * h + i / (f + i) * g(k[2 * hidden :]), None

        return np.zeros(hidden), step, lambda h, context: h
    if cell == "lru":
        lam = np.exp(-np.exp(w["nu_log"]) + 1j * np.exp(w["theta_log"]))
        b_matrix = w["B"][:, 0] + 1j * w["B"][:, 1]  # (N, H)
        c_matrix = w["C"][..., 0] + 1j * w["C"][..., 1]  # (H, N)

        def step(x_t: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, tuple]:
            u = w["encoder.weight"] @ x_t + w["encoder.bias"]
            v = (u - u.mean()) / np.sqrt(u.var() + 1e-5) * w["norm.weight"] + w["norm.bias"]
            return lam * h + np.exp(w["gamma_log"]) * (b_matrix @ v), (u, v)

        def output(h: np.ndarray, context: tuple) -> np.ndarray:
            u, v = context
            glu = w["glu.weight"] @ gelu((c_matrix @ h).real + w["D"] * v) + w["glu.bias"]
            return u + glu[: len(u)] * sigmoid(glu[len(u) :])

        return np.zeros(len(lam), dtype=complex), step, output
    a = -np.exp(w["A_log"])  # (H, N)
    hidden, n = a.shape
    rank = w["dt_proj.weight"].shape[1]

    def step(x_t: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, tuple]:
        projected = w["in_proj.weight"] @ x_t
        u = silu(w["conv_weight"] * projected[:hidden] + w["conv_bias"])
        dbc = w["x_proj.weight"] @ u
        dt = softplus(w["dt_proj.weight"] @ dbc[:rank] + w["dt_proj.bias"])  # (H,)
        b_t, c_t = dbc[rank : rank + n], dbc[rank + n :]
        return np.exp(dt[:, None] * a) * h + (dt * u)[:, None] * b_t[None, :], (
            u, projected[hidden:], c_t)

    def output(h: np.ndarray, context: tuple) -> np.ndarray:
        u, z, c_t = context
        return w["out_proj.weight"] @ ((h @ c_t + w["D"] * u) * silu(z))

    return np.zeros(a.shape), step, output


def numpy_sequence(layer: NumpyLayer, w: dict[str, np.ndarray], x: np.ndarray, t_delta: int,
                   delta: np.ndarray) -> float:
    """ŷ of one adding sequence x (T, I) through the one-layer net, with `delta` (the state
    as the net stores it: the LRU's (N, 2) real and imaginary parts) added to the state after
    step t_delta: the finite differences of this function in delta are dŷ/dh_t in total."""
    h, step, output = layer
    if np.iscomplexobj(h):
        delta = delta[:, 0] + 1j * delta[:, 1]
    for t, x_t in enumerate(x):
        h, context = step(x_t, h)
        if t == t_delta:
            h = h + delta
        out = output(h, context)
    return float(w["head.weight"][0] @ out + w["head.bias"][0])


@pytest.mark.parametrize("cell", SCAN_CELLS)
def test_forward_and_probe_state_gradient_match_numpy_finite_differences(cell):
    """One layer (H = 3, N = 2) on adding T = 6 with weights moved off their init: the parallel
    path's ŷ equals the numpy forward to 1e-12, and the probe's float64 g_t equals
    sqrt(mean_b ||dl_b/dh_t||^2) from central differences of the numpy recurrence in every
    state element (l_b = (ŷ_b - y_b)^2), to 1e-6."""
    task = make_task("adding", 6)
    torch.manual_seed(3)
    state_size = 2 if CELLS[cell].takes_state_size else None
    net = RecurrentNet(cell, task.input_size, 3, num_outputs=1, state_size=state_size)
    with torch.no_grad():  # away from the init, so that every parameter matters
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    net = net.double()
    x, y = task.sample(3, torch.Generator().manual_seed(0))
    w = weights(net)
    layer = numpy_layer(cell, w)
    xs, ys = x.double().numpy(), y.double().numpy()
    state_shape = tuple(net.unrolled(x.double()).h[0][0][0].shape[1:])
    no_delta = np.zeros(state_shape)
    numpy_out = [numpy_sequence(layer, w, xs[b], -1, no_delta) for b in range(len(xs))]
    np.testing.assert_allclose(net(x.double()).detach().numpy()[:, 0], numpy_out, rtol=1e-12,
                               atol=1e-12)
    eps, expected = 1e-6, np.zeros(task.length)
    for t in range(task.length):
        squares = 0.0
        for b in range(len(xs)):
            for e in np.eye(no_delta.size).reshape(-1, *state_shape):
                up = (numpy_sequence(layer, w, xs[b], t, eps * e) - ys[b]) ** 2
                down = (numpy_sequence(layer, w, xs[b], t, -eps * e) - ys[b]) ** 2
                squares += ((up - down) / (2 * eps)) ** 2
        expected[t] = np.sqrt(squares / len(xs))
    g_t = probe(net, task, x, y, chunk_size=2).h_norm[0, 0]  # (T,)
    assert expected.min() > 1e-4  # a non-trivial gradient at every step
    np.testing.assert_allclose(g_t, expected, rtol=1e-6)


# --- initialisations -------------------------------------------------------------------------

def test_lru_starts_on_the_ring_with_normalised_input():
    """N = 4000: |λ|² uniform on [r_min², r_max²] = [0, 1], phase uniform on [0, 6.28],
    γ = sqrt(1 - |λ|²), B_re, B_im ~ N(0, 1/(2H)), C ~ N(0, 1/N), D ~ N(0, 1)."""
    torch.manual_seed(0)
    layer = RecurrentNet("lru", 3, 8, state_size=4000).rnn.l0
    modulus = torch.exp(-torch.exp(layer.nu_log.detach()))
    phase = torch.exp(layer.theta_log.detach())
    assert 0 <= modulus.min() and modulus.max() < 1 and 0 <= phase.min() and phase.max() <= 6.28
    assert abs((modulus**2).mean() - 0.5) < 0.02 and abs((modulus**2).std() - 12**-0.5) < 0.02
    assert abs(phase.mean() - 3.14) < 0.1
    torch.testing.assert_close(torch.exp(layer.gamma_log.detach()), torch.sqrt(1 - modulus**2))
    assert abs(layer.B.std() - 16**-0.5) < 0.01 and abs(layer.C.std() - 4000**-0.5) < 1e-3
    assert abs(layer.D.std() - 1) < 0.6 and all(p.dtype == torch.float32
                                                  for p in layer.parameters())


def test_s6_starts_with_mambas_a_d_and_step_sizes():
    torch.manual_seed(0)
    hidden, n = 4000, 16
    layer = RecurrentNet("s6", 3, hidden).rnn.l0
    expected = torch.log(torch.arange(1, n + 1, dtype=torch.float32)).expand(hidden, n)
    torch.testing.assert_close(layer.A_log.detach(), expected)
    assert (layer.D == 1).all()
    step = torch.nn.functional.softplus(layer.dt_proj.bias.detach())
    assert 1e-3 * (1 - 1e-5) <= step.min() and step.max() <= 0.1 * (1 + 1e-5)
    log_mid = (math.log(1e-3) + math.log(0.1)) / 2  # log-uniform: the logs' mean is the middle
    assert abs(step.log().mean() - log_mid) < 0.05
    rank = dt_rank(hidden)
    assert rank == 250 and layer.dt_proj.weight.abs().max() <= rank**-0.5


@pytest.mark.parametrize("cell, blocks", [("mingru", 2), ("minlstm", 3)])
def test_minimal_rnns_keep_pytorchs_linear_init(cell, blocks):
    linear = RecurrentNet(cell, 9, 40).rnn.l0.linear
    assert linear.weight.shape == (blocks * 40, 9)
    assert linear.weight.abs().max() <= 1 / 3 and linear.bias.abs().max() <= 1 / 3


# --- gates, twins, precision -----------------------------------------------------------------

def stacked(steps: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    return {name: torch.stack([step[name] for step in steps], dim=1) for name in steps[0]}


def test_mingru_update_gate_is_sigmoid_of_the_input_projection():
    net = make_net("mingru", torch.float64, bidirectional=False, depth=1)
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    z = stacked(net.unrolled(x, gates=True).gates[0][0])["update"]  # (B, L, H)
    linear = net.rnn.l0.linear
    torch.testing.assert_close(z, torch.sigmoid(x @ linear.weight[:5].T + linear.bias[:5]))


def test_minlstm_gates_are_normalised():
    net = make_net("minlstm", torch.float64, bidirectional=False, depth=1)
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    gates = stacked(net.unrolled(x, gates=True).gates[0][0])
    k = x @ net.rnn.l0.linear.weight.T + net.rnn.l0.linear.bias  # (B, L, 3H)
    f, i = torch.sigmoid(k[..., :5]), torch.sigmoid(k[..., 5:10])
    torch.testing.assert_close(gates["forget"], f / (f + i))
    torch.testing.assert_close(gates["forget"] + gates["input"], torch.ones_like(f))


def test_s6_retention_is_exp_of_one_step_size_per_channel_times_a():
    """retention[c, n] = exp(Δ_c A[c, n]): log(retention) / A is one Δ_c > 0 for every n."""
    net = make_net("s6", torch.float64, bidirectional=False, depth=1)
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    retention = stacked(net.unrolled(x, gates=True).gates[0][0])["retention"]  # (B, L, H, N)
    assert 0 < retention.min() and retention.max() < 1
    step = retention.log() / -torch.exp(net.rnn.l0.A_log)
    torch.testing.assert_close(step, step[..., :1].expand_as(step))


@pytest.mark.parametrize("cell", SCAN_CELLS)
def test_probe_and_float64_twin_of_every_scan_cell(cell):
    """The twin is the same function in float64 with real float64 parameters, and the probe
    reports the cell's gates (mean activation in (0, 1)) and finite g_t per layer and
    direction."""
    task = make_task("copy", 4)
    torch.manual_seed(0)
    net = RecurrentNet(cell, task.input_size, 6, depth=2, num_outputs=task.num_outputs,
                       per_step_output=True, bidirectional=True)
    x, y = task.sample(5, torch.Generator().manual_seed(0))
    twin = float64_twin(net)
    assert all(p.dtype == torch.float64 for p in twin.parameters())
    torch.testing.assert_close(twin(x.double()).float(), net(x), rtol=1e-5, atol=1e-5)
    result = probe(net, task, x, y, chunk_size=2)
    assert result.h_norm.shape == (2, 2, task.length) and np.isfinite(result.h_norm).all()
    assert result.c_norm is None
    assert result.gate_names == CELLS[cell].gates
    if CELLS[cell].gates:
        assert 0 < result.gate_mean.min() and result.gate_mean.max() < 1


@pytest.mark.parametrize("cell", SCAN_CELLS)
def test_every_parameter_is_real(cell):
    net = RecurrentNet(cell, 3, 4, depth=2, bidirectional=True)
    assert not any(p.is_complex() for p in net.parameters())


@pytest.mark.parametrize("cell", SCAN_CELLS)
def test_parallel_path_trains_under_cpu_bf16_autocast(cell):
    net = make_net(cell, torch.float32)
    x = torch.randn(2, 9, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = net(x).float().square().mean()
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128], ids=["real", "complex"])
@pytest.mark.parametrize("shared", [False, True], ids=["own-a", "shared-a"])
@pytest.mark.parametrize("length", [1, 2, 5, 8])
def test_linear_scan_gradient_passes_gradcheck(length, shared, dtype):
    """The scan's backward (a reversed scan) against finite differences of its forward, for
    an a per sequence and an a shared by the batch (its gradient summed)."""
    generator = torch.Generator().manual_seed(length)
    a = torch.rand(1 if shared else 2, length, 3, generator=generator, dtype=torch.float64)
    b = torch.randn(2, length, 3, generator=generator, dtype=torch.float64)
    a, b = a.to(dtype).requires_grad_(), b.to(dtype).requires_grad_()
    assert torch.autograd.gradcheck(linear_scan, (a, b))


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_linear_scan_from_an_initial_state_equals_the_loop(complex_):
    """h_{-1} = initial: the loop started from it, and the gradient by the initial state
    against finite differences."""
    generator = torch.Generator().manual_seed(7)
    dtype = torch.complex128 if complex_ else torch.float64
    a = (torch.rand(3, 9, 4, generator=generator, dtype=torch.float64) * 2 - 1).to(dtype)
    b = torch.randn(3, 9, 4, generator=generator, dtype=torch.float64).to(dtype)
    initial = torch.randn(3, 4, generator=generator, dtype=torch.float64).to(dtype)
    expected, h = [], initial
    for t in range(9):
        h = a[:, t] * h + b[:, t]
        expected.append(h)
    torch.testing.assert_close(linear_scan(a, b, initial), torch.stack(expected, dim=1),
                               rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(linear_scan, (a.requires_grad_(), b.requires_grad_(),
                                                  initial.requires_grad_()))
