"""The memory measures against independent computations and against the physics of RNNs.

Central finite differences in float64 (a perturbed input, or a perturbed state with the
recurrence re-run step by step through PyTorch's own one-layer modules) for s_t and g_t; the
fused path's input gradient for s_t; the float64 floor; memory coverage at initialisation and
after the adding problem is solved; the configuration's bounds.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
import torch

from conftest import compose_config, run_cli
from rnnmem.config import ConfigError, validate
from rnnmem.measures.probe import (
    FLOOR,
    by_distance,
    float64_twin,
    memory_coverage,
    probe,
    sensitivity_scale,
    summarise,
    summarise_all,
)
from rnnmem.models import RecurrentNet
from rnnmem.tasks import MemoryTask, make_task
from test_probe import reference_norms, single_layer_copy

EPS = 1e-6
VARIANTS = [(1, False), (1, True), (2, False), (2, True), (3, False), (3, True)]
TASKS = [("adding", 6), ("copy", 2)]


def make(cell: str, task_name: str, seq_len: int, depth: int, bidirectional: bool, hidden: int = 3,
         seed: int = 0):
    torch.manual_seed(seed)
    task = make_task(task_name, seq_len)
    net = RecurrentNet(cell, task.input_size, hidden, depth=depth, num_outputs=task.num_outputs,
                       per_step_output=task.per_step_output, bidirectional=bidirectional).double()
    x, y = task.sample(2, torch.Generator().manual_seed(seed + 1))
    return task, net, x.double(), (y.double() if y.is_floating_point() else y)


@pytest.fixture(autouse=True)
def one_thread():
    """Small float64 problems: one thread is fastest, and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def per_sequence_losses(net, task, x, y, perturb=None) -> torch.Tensor:
    """l_b of every sequence of x (N, T, I), the recurrence run one step at a time through
    PyTorch's fused one-layer modules; `perturb = (layer, direction, delta)` adds delta[t]
    (N, H) to that layer and direction's h_t, after step t, wherever h_t is used."""
    batch, length, _ = x.shape
    lstm = net.cell == "lstm"
    layer_input = x
    for layer in range(net.depth):
        outputs = []
        for direction in range(net.num_directions):
            module = single_layer_copy(net, layer, direction)
            zeros = torch.zeros(1, batch, net.hidden_size, dtype=x.dtype)
            state = (zeros, zeros) if lstm else zeros
            hs = [None] * length
            for t in range(length) if direction == 0 else range(length - 1, -1, -1):
                _, state = module(layer_input[:, t : t + 1], state)
                if perturb is not None and perturb[:2] == (layer, direction):
                    h = (state[0] if lstm else state) + perturb[2][t]
                    state = (h, state[1]) if lstm else h
                hs[t] = (state[0] if lstm else state)[0]
            outputs.append(torch.stack(hs, dim=1))  # (N, T, H)
        layer_input = torch.cat(outputs, dim=-1)
    out = net.readout(layer_input)
    return torch.stack([task.memory_loss(out[n : n + 1], y[n : n + 1]) for n in range(batch)])


def finite_difference_input_sensitivity(net, task, x, y) -> np.ndarray:
    """s_t = sqrt(mean_b ||dl_b/dx_t^b||^2) by central differences of the fused network: every
    (sequence, step, feature, sign) perturbation is one row of a single batch."""
    batch, length, features = x.shape
    steps = torch.eye(length * features, dtype=x.dtype).reshape(-1, length, features) * EPS
    rows = [(b, sign) for b in range(batch) for sign in (1, -1)]
    inputs = torch.cat([x[b] + sign * steps for b, sign in rows])  # (2 B T I, T, I)
    targets = torch.cat([y[b : b + 1].expand(len(steps), *y.shape[1:]) for b, _ in rows])
    with torch.no_grad():
        out = net(inputs)
        losses = torch.stack([task.memory_loss(out[n : n + 1], targets[n : n + 1])
                              for n in range(len(out))])
    losses = losses.reshape(batch, 2, length, features)
    derivative = (losses[:, 0] - losses[:, 1]) / (2 * EPS)  # (B, T, I)
    return derivative.pow(2).sum(dim=2).mean(dim=0).sqrt().numpy()


def finite_difference_state_norms(net, task, x, y) -> np.ndarray:
    """g_t = sqrt(mean_b ||dl_b/dh_t^b||^2) by central differences of perturbed states: for a
    layer and direction, every (sequence, step, unit, sign) perturbation is one row of a batch
    run through the recurrence once."""
    batch, length, _ = x.shape
    hidden = net.hidden_size
    rows = [(b, t, unit, sign) for b in range(batch) for t in range(length)
            for unit in range(hidden) for sign in (1, -1)]
    inputs = x[[b for b, *_ in rows]]
    targets = y[[b for b, *_ in rows]]
    delta = torch.zeros(length, len(rows), hidden, dtype=x.dtype)
    for n, (_, t, unit, sign) in enumerate(rows):
        delta[t, n, unit] = sign * EPS
    g = np.zeros((net.depth, net.num_directions, length))
    with torch.no_grad():
        for layer in range(net.depth):
            for d in range(net.num_directions):
                losses = per_sequence_losses(net, task, inputs, targets, (layer, d, delta))
                losses = losses.reshape(batch, length, hidden, 2)
                derivative = (losses[..., 0] - losses[..., 1]) / (2 * EPS)  # (B, T, H)
                g[layer, d] = derivative.pow(2).sum(dim=2).mean(dim=0).sqrt().numpy()
    return g


@pytest.mark.parametrize("task_name,seq_len", TASKS)
@pytest.mark.parametrize("depth,bidirectional", VARIANTS)
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_input_sensitivity_matches_central_differences(cell, depth, bidirectional, task_name,
                                                       seq_len):
    task, net, x, y = make(cell, task_name, seq_len, depth, bidirectional)
    s = probe(net, task, x, y, chunk_size=1).x_norm
    reference = finite_difference_input_sensitivity(net, task, x, y)
    # central differences of a loss of order 1 carry ~1e-10 of round-off
    np.testing.assert_allclose(s, reference, rtol=1e-6, atol=2e-9)


@pytest.mark.parametrize("task_name,seq_len", TASKS)
@pytest.mark.parametrize("depth,bidirectional", VARIANTS)
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_state_gradient_norms_match_central_differences(cell, depth, bidirectional, task_name,
                                                        seq_len):
    task, net, x, y = make(cell, task_name, seq_len, depth, bidirectional)
    g = probe(net, task, x, y).h_norm
    reference = finite_difference_state_norms(net, task, x, y)
    np.testing.assert_allclose(g, reference, rtol=1e-6, atol=2e-9)


@pytest.mark.parametrize("task_name,seq_len", [("adding", 15), ("copy", 4)])
@pytest.mark.parametrize("depth,bidirectional", [(1, False), (2, True), (3, True)])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_fused_input_gradient_equals_unrolled_input_sensitivity(cell, depth, bidirectional,
                                                                task_name, seq_len):
    """The input is a leaf: the fused module's own backward gives dL/dx_t directly."""
    torch.manual_seed(0)
    task = make_task(task_name, seq_len)
    net = RecurrentNet(cell, task.input_size, 16, depth=depth, num_outputs=task.num_outputs,
                       per_step_output=task.per_step_output, bidirectional=bidirectional).double()
    x, y = task.sample(12, torch.Generator().manual_seed(2))
    y = y.double() if y.is_floating_point() else y
    x = x.double().requires_grad_(True)
    (grad,) = torch.autograd.grad(task.memory_loss(net(x), y), x)  # dL/dx, L = mean_b l_b
    fused = (len(x) * grad).pow(2).sum(dim=(0, 2)).div(len(x)).sqrt().numpy()
    unrolled = probe(net, task, x.detach(), y, chunk_size=5).x_norm
    np.testing.assert_allclose(unrolled, fused, rtol=1e-6, atol=1e-12 * fused.max())


def test_chunks_do_not_change_the_probe():
    task = make_task("copy", 5)
    torch.manual_seed(0)
    net = RecurrentNet("lstm", task.input_size, 8, depth=2, num_outputs=task.num_outputs,
                       per_step_output=True, bidirectional=True)
    x, y = task.sample(10, torch.Generator().manual_seed(0))
    whole, chunked = probe(net, task, x, y, chunk_size=10), probe(net, task, x, y, chunk_size=3)
    for name in ("x_norm", "h_norm", "c_norm", "gate_mean", "gate_saturated"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-12)
    assert chunked.loss == pytest.approx(whole.loss, rel=1e-12)


def test_norms_are_per_sequence_so_the_probe_batch_size_does_not_scale_them():
    """Eight copies of one sequence give that sequence's norms, not sqrt(8) times less."""
    task = make_task("adding", 12)
    torch.manual_seed(0)
    net = RecurrentNet("gru", 2, 8, depth=1, num_outputs=1, per_step_output=False)
    x, y = task.sample(1, torch.Generator().manual_seed(0))
    one, eight = probe(net, task, x, y), probe(net, task, x.repeat(8, 1, 1), y.repeat(8))
    np.testing.assert_allclose(eight.h_norm, one.h_norm, rtol=1e-12)
    np.testing.assert_allclose(eight.x_norm, one.x_norm, rtol=1e-12)


def test_long_vanilla_rnn_gradient_stays_exact_in_float64():
    """Adding T=400 at init: g_t of a tanh RNN falls below float32's range (a float32 probe
    floors ~300 of 400 values at 0); the float64 probe has no zero and its decay rate is that
    of an independent float64 step-by-step reference."""
    torch.manual_seed(0)
    task = make_task("adding", 400)
    net = RecurrentNet("rnn", 2, 64, depth=1, num_outputs=1, per_step_output=False)
    x, y = task.sample(8, torch.Generator().manual_seed(0))
    g = probe(net, task, x, y).h_norm[0, 0]
    assert (g > 0).all()
    assert g.min() < np.finfo(np.float32).tiny, "the curve leaves float32's range"
    reference, _ = reference_norms(net.double(), task, x.double(), y.double())
    curve = by_distance(reference[0, 0], task, "fwd")
    expected = -np.polyfit(np.arange(len(curve)), np.log(curve), 1)[0]
    summary = summarise(by_distance(g, task, "fwd"))
    assert summary["decay_rate"] == pytest.approx(expected, rel=0.05)
    assert summary["decay_rate"] > 0.3
    assert not summary["grad_ratio_is_bound"]
    assert summary["log10_grad_ratio"] == pytest.approx(np.log10(curve[-1] / curve[0]), rel=1e-3)


def test_a_curve_at_the_floor_gives_a_bound_fitted_over_representable_values():
    g = np.exp(-2.0 * np.arange(10)) * 1e-300
    g[7:] = 0.0  # e^-14 1e-300 = 8e-307 representable; below that, gone
    summary = summarise(g, threshold=1e-2)
    assert summary["grad_ratio_is_bound"]
    assert summary["log10_grad_ratio"] == pytest.approx(np.log10(FLOOR / 1e-300))
    assert summary["decay_rate"] == pytest.approx(2.0)  # from the 7 representable points
    assert summary["memory_horizon"] == 2  # e^-4 = 0.018 >= 1e-2 > e^-6


def test_zero_curve_has_horizon_zero_and_no_coverage():
    summary = summarise(np.zeros(12))
    assert summary["memory_horizon"] == 0
    assert np.isnan(summary["decay_rate"]) and np.isnan(summary["log10_grad_ratio"])
    assert memory_coverage(np.zeros(12), make_task("adding", 12)) == 0.0


def test_coverage_counts_information_steps_above_the_threshold_of_their_maximum():
    adding, copy = make_task("adding", 10), make_task("copy", 5)
    s = np.array([1e-4, 1e-3, 0.02, 0.5, 1.0, 1.0, 0.9, 0.2, 0.011, 2.0])
    assert memory_coverage(s, adding, threshold=1e-2) == pytest.approx(0.7)  # >= 0.02
    s = np.full(copy.length, 1.0)
    s[:10] = [1e-4] * 5 + [0.05] * 5  # symbol steps; the rest (blanks, recall) set no scale
    assert memory_coverage(s, copy, threshold=1e-2) == pytest.approx(0.5)
    assert sensitivity_scale(s, copy) == 0.05
    assert np.isnan(memory_coverage(np.array([1.0, np.nan]), make_task("adding", 2)))


def coverage_at_init(cell: str, depth: int, bidirectional: bool, seeds=range(3)) -> float:
    task = make_task("adding", 60)
    values = []
    for seed in seeds:
        torch.manual_seed(seed)
        net = RecurrentNet(cell, 2, 32, depth=depth, num_outputs=1, per_step_output=False,
                           bidirectional=bidirectional)
        x, y = task.sample(64, torch.Generator().manual_seed(100 + seed))
        values.append(memory_coverage(probe(net, task, x, y).x_norm, task))
    return float(np.mean(values))


def test_memory_coverage_at_init_is_short_for_every_architecture():
    """docs/tasks.md's reference values at init (H=32, T=60, adding): vanilla RNN 1 layer ~0.17, 3
    layers bidirectional ~0.30, never 1; where the distance-based horizon of the bottom layer
    read 59 of 59 for the deep bidirectional net."""
    shallow, deep = coverage_at_init("rnn", 1, False), coverage_at_init("rnn", 3, True)
    assert 0.08 < shallow < 0.3
    assert 0.15 < deep < 0.5
    torch.manual_seed(0)
    task = make_task("adding", 60)
    net = RecurrentNet("rnn", 2, 32, depth=3, num_outputs=1, per_step_output=False,
                       bidirectional=True)
    x, y = task.sample(64, torch.Generator().manual_seed(100))
    horizon = summarise_all(probe(net, task, x, y).h_norm, task)["memory_horizon"][0, 0]
    assert horizon == 59, "the per-direction distance cannot tell this net's memory"


def test_memory_coverage_is_full_for_an_lstm_that_solved_adding():
    """A solved network feels every input it needs: train an LSTM on adding T=20 to held-out
    MSE < 0.01 (a plain loop), then every step's input reaches the loss."""
    torch.manual_seed(0)
    task = make_task("adding", 20)
    net = RecurrentNet("lstm", 2, 32, depth=1, num_outputs=1, per_step_output=False)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(600):
        x, y = task.sample(64, generator)
        loss = task.loss(net(x), y)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimiser.step()
    x, y = task.sample(500, torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert task.loss(net(x), y).item() < 0.01
    assert memory_coverage(probe(net, task, x[:64], y[:64]).x_norm, task) >= 0.95


@pytest.mark.parametrize("value", [2.0, 0.0, 1.0, -0.1])
def test_probe_threshold_must_lie_inside_zero_one(value):
    cfg = compose_config(f"probe.threshold={value}")
    with pytest.raises(ConfigError, match=r"^probe.threshold=.* must lie in the open interval"):
        validate(cfg)


def test_probe_threshold_2_is_a_one_line_error_before_training(tmp_path):
    result = run_cli("probe.threshold=2", "logger=none", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "rnnmem: error: probe.threshold=2.0 must lie in the open interval (0, 1)"]
    assert not (tmp_path / "record.json").exists()


def peak_allocated_mib(work: Callable[[], object]) -> float:
    """Peak of the bytes PyTorch's CPU allocator holds while `work()` runs, from the allocator's
    own events (the profiler's memory records, in time order, summed): exact and the same on an
    idle or a busy machine, unlike a resident-memory sampler, which can miss a peak or see the
    C library's allocator keep freed pages."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                profile_memory=True) as profiler:
        work()
    events = sorted((event for event in profiler.profiler.kineto_results.events()
                     if event.name() == "[memory]"), key=lambda event: event.start_ns())
    return max(itertools.accumulate((event.nbytes() for event in events), initial=0)) / 2**20


def lstm_adding(length: int, hidden: int = 64, batch: int = 32
                ) -> tuple[MemoryTask, RecurrentNet, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    task = make_task("adding", length)
    net = RecurrentNet("lstm", 2, hidden, depth=1, num_outputs=1, per_step_output=False)
    x, y = task.sample(batch, torch.Generator().manual_seed(0))
    return task, net, x, y


def bare_gradient_pass(task: MemoryTask, net: RecurrentNet, x: torch.Tensor, y: torch.Tensor,
                       held: torch.Tensor | None = None) -> None:
    """The float64 unrolled pass and its state and input gradients, without gates: the floor
    any probe pays. `held` is kept alive across the backward pass (the control)."""
    twin = float64_twin(net)
    xd = x.double().requires_grad_(True)
    out = twin.unrolled(xd)
    loss = task.memory_loss(out.output, y.double())
    torch.autograd.grad(loss, [*out.h[0][0], *out.c[0][0], xd])
    del held


def test_probe_peak_memory_is_that_of_the_gradient_pass_not_of_stacked_gates():
    """Gate statistics are running sums, reduced before the backward pass frees the graph: the
    probe's peak is the bare float64 gradient pass's, while stacking the three LSTM gates of
    T=800 steps would take 3 T B H 8 bytes = 37.5 MiB more. The control holds exactly such a
    stack across the bare pass, and the meter sees it."""
    task, net, x, y = lstm_adding(800)
    stacked = 3 * 800 * 32 * 64 * 8 / 2**20
    bare = peak_allocated_mib(lambda: bare_gradient_pass(task, net, x, y))
    with_stack = peak_allocated_mib(lambda: bare_gradient_pass(
        task, net, x, y, held=torch.zeros(3, 800, 32, 64, dtype=torch.float64)))
    full = peak_allocated_mib(lambda: probe(net, task, x, y, chunk_size=32))
    assert bare > stacked, "the measurement sees the graph"
    assert with_stack - bare == pytest.approx(stacked, rel=0.01), "and a stack held across it"
    assert full - bare < 0.1 * stacked
