"""RecurrentNet: the unrolled path equals the fused one, its h_t give total derivatives, and the
readout, initialisation and argument checks follow docs/tasks.md."""

import re
from collections import Counter

import pytest
import torch
from torch import Tensor

from rnnmem.models import CELLS, RecurrentNet
from rnnmem.models.scan import ScanCell

B, L, N_IN, H, N_OUT = 2, 7, 3, 5, 4
TOL = {"atol": 1e-5, "rtol": 1e-5}
SCAN_CELLS = [cell for cell, spec in CELLS.items() if issubclass(spec, ScanCell)]
# the cells whose layer output is their state h (the matrix cells, the minimal RNNs)
OUTPUT_IS_STATE = [cell for cell in CELLS if cell not in ("lru", "s6")]

# (depth, bidirectional, per_step_output, merge); merge only matters for two directions
CONFIGS = [
    (depth, bidirectional, per_step, merge)
    for depth in (1, 2, 3)
    for bidirectional in (False, True)
    for per_step in (True, False)
    for merge in (("concat", "sum") if bidirectional else ("concat",))
]
CONFIG_IDS = [
    f"depth{d}-{'bi' if b else 'uni'}-{'step' if p else 'seq'}-{m}" for d, b, p, m in CONFIGS
]


def make_net(
    cell: str,
    depth: int = 2,
    bidirectional: bool = False,
    per_step_output: bool = True,
    merge: str = "concat",
    dtype: torch.dtype = torch.float64,
) -> RecurrentNet:
    torch.manual_seed(0)
    net = RecurrentNet(cell, N_IN, H, depth=depth, num_outputs=N_OUT,
                       per_step_output=per_step_output, bidirectional=bidirectional, merge=merge)
    return net.to(dtype)


def inputs(dtype: torch.dtype = torch.float64, length: int = L) -> Tensor:
    return torch.randn(B, length, N_IN, generator=torch.Generator().manual_seed(1), dtype=dtype)


def assert_unrolled_matches_fused(
    cell: str, depth: int, bidirectional: bool, per_step: bool, merge: str, dtype: torch.dtype
) -> None:
    net = make_net(cell, depth, bidirectional, per_step, merge, dtype)
    x = inputs(dtype)
    fused, unrolled = net(x), net.unrolled(x).output
    assert fused.shape == ((B, L, N_OUT) if per_step else (B, N_OUT))
    torch.testing.assert_close(unrolled, fused, **TOL)
    w = torch.randn_like(fused)  # a scalar loss that weighs every output differently
    params = list(net.parameters())
    grads_fused = torch.autograd.grad((fused * w).sum(), params)
    grads_unrolled = torch.autograd.grad((unrolled * w).sum(), params)
    names = [name for name, _ in net.named_parameters()]
    for name, g_f, g_u in zip(names, grads_fused, grads_unrolled, strict=True):
        torch.testing.assert_close(g_u, g_f, **TOL, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("depth, bidirectional, per_step, merge", CONFIGS, ids=CONFIG_IDS)
def test_unrolled_rnn_matches_fused(depth, bidirectional, per_step, merge, dtype):
    assert_unrolled_matches_fused("rnn", depth, bidirectional, per_step, merge, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("depth, bidirectional, per_step, merge", CONFIGS, ids=CONFIG_IDS)
def test_unrolled_lstm_matches_fused(depth, bidirectional, per_step, merge, dtype):
    assert_unrolled_matches_fused("lstm", depth, bidirectional, per_step, merge, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("depth, bidirectional, per_step, merge", CONFIGS, ids=CONFIG_IDS)
def test_unrolled_gru_matches_fused(depth, bidirectional, per_step, merge, dtype):
    assert_unrolled_matches_fused("gru", depth, bidirectional, per_step, merge, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("depth, bidirectional, per_step, merge", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("cell", ["irnn", "orth", *SCAN_CELLS])
def test_unrolled_new_cells_match_training_path(cell, depth, bidirectional, per_step, merge,
                                                dtype):
    """irnn trains through the fused nn.RNN(relu), orth through UnfusedLayers, minGRU, minLSTM,
    LRU and S6 through their parallel scans: both paths, one set of parameters, equal outputs
    and parameter gradients."""
    assert_unrolled_matches_fused(cell, depth, bidirectional, per_step, merge, dtype)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", OUTPUT_IS_STATE)
def test_unrolled_states_match_fused_layers(cell, bidirectional):
    depth, D = 3, 1 + bidirectional
    net = make_net(cell, depth, bidirectional)
    x = inputs()
    u = net.unrolled(x)
    _, state = net.rnn(x)
    h_n, c_n = state if cell == "lstm" else (state, None)  # (depth*D, B, H)
    for layer in range(depth):
        # a training stack of layer + 1 layers with the same weights outputs layer's states
        sub = CELLS[cell].layers(N_IN, H, layer + 1, bidirectional).double()
        sub.load_state_dict({k: net.rnn.state_dict()[k] for k in sub.state_dict()})
        out, _ = sub(x)  # (B, L, D*H)
        for d in range(D):
            h = torch.stack(u.h[layer][d], dim=1)  # (B, L, H)
            torch.testing.assert_close(h, out[..., d * H : (d + 1) * H], **TOL)
            final = L - 1 if d == 0 else 0  # the backward direction ends at t = 0
            torch.testing.assert_close(u.h[layer][d][final], h_n[layer * D + d], **TOL)
            if cell == "lstm":
                torch.testing.assert_close(u.c[layer][d][final], c_n[layer * D + d], **TOL)
    assert (u.c is None) == (cell != "lstm")


@pytest.mark.parametrize("merge", ["concat", "sum"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_bidirectional_sequence_readout_reads_backward_final_state(cell, merge):
    net = make_net(cell, depth=2, bidirectional=True, per_step_output=False, merge=merge)
    with torch.no_grad():  # away from IRNN's near-silent init (W_ih ~ 1e-3), so readouts differ
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = inputs()
    top, _ = net.rnn(x)  # (B, L, 2H)
    fwd, bwd = top[:, -1, :H], top[:, 0, H:]  # fwd after t = L-1, bwd after t = 0
    expected = net.head(torch.cat([fwd, bwd], -1) if merge == "concat" else fwd + bwd)
    torch.testing.assert_close(net(x), expected, **TOL)
    u = net.unrolled(x)
    torch.testing.assert_close(u.output, expected, **TOL)
    if cell in OUTPUT_IS_STATE:
        torch.testing.assert_close(u.h[-1][0][L - 1], fwd, **TOL)
        torch.testing.assert_close(u.h[-1][1][0], bwd, **TOL)
    bwd_last = top[:, -1, H:]  # has seen one input only
    wrong = net.head(torch.cat([fwd, bwd_last], -1) if merge == "concat" else fwd + bwd_last)
    assert not torch.allclose(net(x), wrong, atol=1e-3)


@pytest.mark.parametrize("cell", list(CELLS))
def test_grads_wrt_unrolled_states_reach_earlier_steps(cell):
    net = make_net(cell, depth=2)
    x = inputs()
    u = net.unrolled(x)
    states = [h for layer in u.h for direction in layer for h in direction]
    if cell == "lstm":
        states += [c for layer in u.c for direction in layer for c in direction]
    grads = torch.autograd.grad(u.output[:, -1].sum(), states)  # loss on the last step only
    assert all(g.abs().max() > 0 for g in grads)
    # the fused module's output only carries the direct part, zero before the last step
    top, _ = net.rnn(x)
    top.retain_grad()
    net.readout(top)[:, -1].sum().backward()
    assert top.grad[:, :-1].abs().max() == 0


def test_unrolled_state_grads_are_total_derivatives():
    """x_t reaches the loss only through layer 0's h_t = tanh(W_ih x_t + ...), so the input
    gradient of the fused net must equal dL/dx_t = W_ih^T ((1 - h_t^2) * dL/dh_t)."""
    net = make_net("rnn", depth=2, per_step_output=False)
    x = inputs().requires_grad_()
    u = net.unrolled(x)
    g_h = torch.autograd.grad(u.output.sum(), u.h[0][0])
    (g_x,) = torch.autograd.grad(net(x).sum(), x)  # (B, L, N_IN)
    expected = [
        ((1 - h**2) * g) @ net.rnn.weight_ih_l0 for h, g in zip(u.h[0][0], g_h, strict=True)
    ]
    torch.testing.assert_close(g_x, torch.stack(expected, dim=1), **TOL)


def graph_nodes(t: Tensor) -> Counter[str]:
    """Count the autograd nodes behind t by type."""
    counts, seen, todo = Counter(), set(), [t.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        counts[node.name()] += 1
        todo.extend(n for n, _ in node.next_functions)
    return counts


@pytest.mark.parametrize("cell", list(CELLS))
def test_unrolled_graph_is_linear_in_length(cell):
    """Backward is O(L) if the graph has a fixed number of nodes per step and no per-step slice
    of a length-L tensor (each of whose backward would allocate the whole (B, L, ...) gradient)."""
    depth, D = 2, 2
    net = make_net(cell, depth, bidirectional=True)
    counts = {n: graph_nodes(net.unrolled(inputs(length=n)).output) for n in (8, 16, 24)}
    total = {n: sum(c.values()) for n, c in counts.items()}
    assert total[24] - total[16] == total[16] - total[8]
    slices = {n: c["SliceBackward0"] + c["SelectBackward0"] for n, c in counts.items()}
    assert slices[8] == slices[16] == slices[24]
    assert all(c["UnbindBackward0"] == depth * D for c in counts.values())


def stacked(steps: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Per-step gate dicts as one (L, B, H) tensor per gate."""
    return {name: torch.stack([step[name] for step in steps]) for name in steps[0]}


def test_lstm_gates_reproduce_states():
    net = make_net("lstm", depth=2, bidirectional=True)
    u = net.unrolled(inputs(), gates=True)
    for layer in range(2):
        for d in range(2):
            g = stacked(u.gates[layer][d])
            assert set(g) == {"input", "forget", "output"}
            assert all(a.shape == (L, B, H) and 0 < a.min() and a.max() < 1 for a in g.values())
            h, c = torch.stack(u.h[layer][d]), torch.stack(u.c[layer][d])  # (L, B, H)
            torch.testing.assert_close(h, g["output"] * torch.tanh(c), **TOL)
    assert net.unrolled(inputs()).gates is None


def test_gru_gates_follow_equations():
    net = make_net("gru", depth=1)
    x = inputs()
    u = net.unrolled(x, gates=True)
    g = stacked(u.gates[0][0])
    assert set(g) == {"reset", "update"}
    h_prev = torch.stack([torch.zeros(B, H, dtype=x.dtype)] + u.h[0][0][:-1])  # (L, B, H)
    x_r, x_z, _ = (x.transpose(0, 1) @ net.rnn.weight_ih_l0.T + net.rnn.bias_ih_l0).chunk(3, -1)
    h_r, h_z, _ = (h_prev @ net.rnn.weight_hh_l0.T + net.rnn.bias_hh_l0).chunk(3, -1)
    torch.testing.assert_close(g["reset"], torch.sigmoid(x_r + h_r), **TOL)
    torch.testing.assert_close(g["update"], torch.sigmoid(x_z + h_z), **TOL)


@pytest.mark.parametrize("cell", [c for c, spec in CELLS.items()
                                  if spec.recurrent_matrix and not spec.orthogonal_recurrence])
def test_orthogonal_init_makes_each_recurrent_gate_block_orthogonal(cell):
    kwargs = dict(depth=2, num_outputs=1, per_step_output=False, bidirectional=True)
    torch.manual_seed(0)
    net = RecurrentNet(cell, N_IN, H, init="orthogonal", **kwargs)
    torch.manual_seed(0)
    default = RecurrentNet(cell, N_IN, H, **kwargs)
    blocks = CELLS[cell].blocks
    names = [n for n, _ in net.rnn.named_parameters() if n.startswith("weight_hh")]
    assert len(names) == 4  # 2 layers x 2 directions
    for name in names:
        w = getattr(net.rnn, name)
        assert w.shape == (blocks * H, H)
        for block in w.split(H):
            torch.testing.assert_close(block @ block.T, torch.eye(H), **TOL)
    for name, p in default.rnn.named_parameters():
        if name.startswith("bias"):
            torch.testing.assert_close(getattr(net.rnn, name), p)


def test_forget_bias_sets_effective_forget_gate_bias():
    net = RecurrentNet("lstm", N_IN, H, depth=2, num_outputs=1, per_step_output=False,
                       bidirectional=True, forget_bias=1.5)
    f = slice(H, 2 * H)  # chunk order i, f, g, o
    for layer in range(2):
        for suffix in ("", "_reverse"):
            b_ih = getattr(net.rnn, f"bias_ih_l{layer}{suffix}")
            b_hh = getattr(net.rnn, f"bias_hh_l{layer}{suffix}")
            torch.testing.assert_close(b_ih[f] + b_hh[f], torch.full((H,), 1.5))
            assert b_hh[f].abs().max() == 0


@pytest.mark.parametrize(
    "bidirectional, merge, width", [(False, "concat", H), (True, "concat", 2 * H), (True, "sum", H)]
)
def test_head_width_follows_merge(bidirectional, merge, width):
    net = RecurrentNet("gru", N_IN, H, depth=1, num_outputs=N_OUT, per_step_output=True,
                       bidirectional=bidirectional, merge=merge)
    assert net.head.in_features == width
    assert net.num_directions == 1 + bidirectional


@pytest.mark.parametrize(
    "override, named",
    [
        ({"cell": "transformer"}, "'transformer'"),
        ({"depth": 0}, "0"),
        ({"merge": "mean"}, "'mean'"),
        ({"init": "xavier"}, "'xavier'"),
        ({"cell": "gru", "forget_bias": 1.0}, "forget_bias"),
        ({"cell": "minlstm", "forget_bias": 1.0}, "forget_bias=1.0 applies to lstm only"),
        ({"cell": "lru", "init": "orthogonal"}, "init='orthogonal' applies to cells with a W_hh"),
        ({"cell": "gru", "state_size": 4}, "state_size=4 applies to lru, s6 only, not 'gru'"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_value(override, named):
    kwargs = dict(
        cell="lstm",
        input_size=N_IN,
        hidden_size=H,
        depth=1,
        num_outputs=N_OUT,
        per_step_output=True,
    )
    with pytest.raises(ValueError, match=re.escape(named)):
        RecurrentNet(**(kwargs | override))


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)],
                         ids=["f64", "f32"])
@pytest.mark.parametrize("depth, per_step", [(1, False), (2, True)], ids=["1-seq", "2-step"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_forward_from_is_forward_with_the_steps_before_start_outside_autograd(
        cell, depth, per_step, dtype, tol):
    """forward_from(x, s): the output of forward(x), and the derivative by every input at a
    step >= s, while inputs before s get none (they ran outside autograd)."""
    net = make_net(cell, depth, per_step_output=per_step, dtype=dtype)
    x = inputs(dtype)
    whole = net(x)
    weights = torch.randn_like(whole)
    (expected,) = torch.autograd.grad((net(x.requires_grad_()) * weights).sum(), x)
    for start in (0, 1, 3, L - 1):
        out = net.forward_from(x, start)
        torch.testing.assert_close(out, whole, atol=tol, rtol=tol)
        (grad,) = torch.autograd.grad((out * weights).sum(), x)
        assert torch.all(grad[:, :start] == 0)
        torch.testing.assert_close(grad[:, start:], expected[:, start:], atol=tol, rtol=tol)


@pytest.mark.parametrize("bidirectional, start, named", [
    (True, 2, "unidirectional"), (False, -1, "start=-1"), (False, L, f"start={L}")])
def test_forward_from_refuses_what_it_cannot_compute(bidirectional, start, named):
    net = make_net("gru", bidirectional=bidirectional)
    with pytest.raises(ValueError, match=named):
        net.forward_from(inputs(), start)
    torch.testing.assert_close(net.forward_from(inputs(), 0), net(inputs()))


@pytest.mark.parametrize("cell, fused", [("lstm", torch.nn.LSTM), ("rnn", torch.nn.RNN)])
def test_unfused_layers_take_and_give_states_as_the_fused_module(cell, fused):
    """UnfusedLayers, the loop of a cell without a kernel, run for cells that have one, with
    the fused module's weights: the same outputs and final states from the same initial ones
    (h_0, and (h_0, c_0) for a cell state), two layers, both directions."""
    from rnnmem.models.cells import UnfusedLayers
    torch.manual_seed(0)
    reference = fused(N_IN, H, num_layers=2, batch_first=True, bidirectional=True).double()
    loop = UnfusedLayers(CELLS[cell], N_IN, H, 2, True).double()
    loop.load_state_dict(reference.state_dict())
    h_0 = torch.randn(4, B, H, dtype=torch.float64)
    state = (h_0, torch.randn(4, B, H, dtype=torch.float64)) if cell == "lstm" else h_0
    x = inputs()
    (out, final), (out_ref, final_ref) = loop(x, state), reference(x, state)
    torch.testing.assert_close(out, out_ref, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(final, final_ref, atol=1e-12, rtol=1e-12)
