"""The recurrent cells, registered by name: one class per cell, one entry in CELLS.

The contract every cell states (`Cell`): how its layers are built and initialised (`layers`,
the stack that trains), what one layer and direction is to the unrolled loop the probe
differentiates (`recurrence`: per-step inputs, initial states, the step equation and the
layer's output from its states), how many parameters a layer has (`layer_params`, read by
`rnnmem.models.budget`), how many recurrent state elements (`state_elements`), its gates, whether it
carries a cell state, and a readable label. Everything else (the training path, the unrolled
path, its float64 twin, figures, Table 1, W&B, the bench and config validation) reads the
registry, so a new cell is one class, one entry in CELLS and one `conf/model/<name>.yaml`.

Every state a recurrence carries is a real tensor (a complex state is stored as its real and
imaginary parts), and so is every parameter: the probe takes norms of the states and makes a
float64 twin with `.double()`, which would drop a complex parameter's imaginary part.

The defaults of `Cell` are those of the cells below, whose recurrence is a matrix W_hh and
whose layer output is the state h itself. A cell class of this family states its step equation
(`step`) and how many gate blocks its weights stack (`blocks`: W_ih is (G*H, I), W_hh (G*H, H)).
The cells whose recurrence is linear and diagonal in the state, with gates from the input alone
(minGRU, minLSTM, LRU, S6), are the family of `rnnmem.models.scan`: each adds a parallel
training path, a scan over the sequence, and registers here through `rnnmem.models`.

In the matrix family every step takes xp = x_t W_ih^T + b_ih, the input projection for that
step, computed for all steps at once outside the loop (one matmul instead of T). Gate blocks of
xp, W_hh and b_hh are stacked in PyTorch's order: LSTM (i, f, g, o), GRU (r, z, n). Its steps
share one signature, step(xp, h, c, w_hh, b_hh) -> (h', c', gates): c is the LSTM cell state
(None otherwise) and gates maps a gate's name to its activation at this step (empty for
gate-free cells); `Cell.recurrence` wraps it for the one loop that drives every cell.

Cells with a fused PyTorch kernel (`fused` set: rnn, lstm, gru, irnn) train through it and the
steps below read its weights, so the unrolled loop computes exactly what the fused module
computes. A cell without one (`fused` None: orth) trains through `UnfusedLayers`, a loop over
the same step function with the same parameter names (weight_ih_l0, weight_hh_l0_reverse, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrizations, parametrize

Gates = dict[str, Tensor]
States = tuple[Tensor, ...]
# What a trained tensor does, for per-role optimiser settings (`rnnmem.models.param_groups`):
# what sets the state's transition, the position-wise weights into and out of the recurrence,
# the biases, and the linear readout on top (the head)
ROLES = ("recurrent", "input", "bias", "readout")


@dataclass
class Recurrence:
    """One layer and one direction of a stack, as `RecurrentNet.unrolled` steps it.

    inputs: L per-step inputs in time order, each (B, ...): what the step reads of the layer's
        input, computed for all steps at once and unbound (one autograd node per layer, not a
        slice per step, keeps backward O(L)).
    initial: the states before the first step, each (B, ...) and real.
    step: (input_t, states) -> (states', gates): the cell's step equation; gates maps a gate's
        name to its activation at this step (empty for gate-free cells).
    output: the states of every step in time order, one list of L tensors per state, ->
        the layer's output (B, L, W) that the layer above and the head read: the stacked h
        itself for the matrix cells, a position-wise function of the states for others.
    """

    inputs: Sequence[Tensor]
    initial: States
    step: Callable[[Tensor, States], tuple[States, Gates]]
    output: Callable[[Sequence[Sequence[Tensor]]], Tensor]


class Cell:
    """A registered recurrent cell (see the module docstring); a cell of the matrix family sets
    the ClassVars and `step`, and may override `initialise`."""

    name: ClassVar[str]
    label: ClassVar[str]
    blocks: ClassVar[int] = 1
    gates: ClassVar[tuple[str, ...]] = ()
    has_cell_state: ClassVar[bool] = False
    fused: ClassVar[type[nn.RNNBase] | None] = None
    fused_kwargs: ClassVar[dict[str, str]] = {}
    # weight_hh is kept orthogonal by a parametrization: `model.init` cannot rewrite it
    orthogonal_recurrence: ClassVar[bool] = False
    # a W_hh of gate blocks (H, H) that `model.init=orthogonal` makes orthogonal
    recurrent_matrix: ClassVar[bool] = True
    # `model.forget_bias` sets its forget gate's bias (chunk 1 of bias_ih and bias_hh)
    has_forget_bias: ClassVar[bool] = False
    # the state has a size of its own, N (`model.state_size`), beside the hidden size H
    takes_state_size: ClassVar[bool] = False
    # the cell's default lr factor per role (ROLES), where `optim.lr_scale` does not name the
    # role; a role not listed trains at the full lr
    lr_scale: ClassVar[dict[str, float]] = {}
    # sequences per pass of item memory's gradient view on a CPU, the fastest of 16, 32, 64
    # and 128 at T = 200 and 128 units, one thread: per-step kernels (ATen's loops) want large
    # passes, one kernel over every step (oneDNN's LSTM, the parallel scan) small ones, whose
    # working set stays in cache; the results do not depend on it
    cpu_view_chunk: ClassVar[int] = 128

    @staticmethod
    def step(xp: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor
             ) -> tuple[Tensor, Tensor | None, Gates]:
        raise NotImplementedError

    @classmethod
    def layers(cls, input_size: int, hidden_size: int, depth: int, bidirectional: bool,
               state_size: int | None = None) -> nn.Module:
        """The stack that trains: the fused module where there is one, else UnfusedLayers.
        Both take x (B, L, I) and return (top (B, L, D*H), final states)."""
        if cls.fused is not None:
            stack = cls.fused(input_size, hidden_size, num_layers=depth, batch_first=True,
                              bidirectional=bidirectional, **cls.fused_kwargs)
        else:
            stack = UnfusedLayers(cls, input_size, hidden_size, depth, bidirectional)
        cls.initialise(stack, hidden_size)
        return stack

    @classmethod
    def initialise(cls, stack: nn.Module, hidden_size: int) -> None:
        """The cell's own initialisation after PyTorch's default; none unless overridden."""

    @classmethod
    def parameter_role(cls, name: str) -> str:
        """The role (one of ROLES but `readout`) of the parameter `name` of the stack that
        `layers` builds: weight_hh* recurrent, weight_ih* input, bias* bias; a parametrized
        tensor (`parametrizations.<name>.original`) has its name's role. A cell with other
        parameters overrides this; ValueError names a parameter no rule covers."""
        base = name.removeprefix("parametrizations.")
        for prefix, role in (("weight_hh", "recurrent"), ("weight_ih", "input"),
                             ("bias", "bias")):
            if base.startswith(prefix):
                return role
        raise ValueError(f"cell {cls.name!r}: no parameter role for {name!r} (one of "
                         f"{', '.join(ROLES)}; override {cls.__name__}.parameter_role)")

    @classmethod
    def recurrence(cls, stack: nn.Module, layer: int, direction: int, inp: Tensor
                   ) -> Recurrence:
        """Layer `layer`, direction `direction` (1: backward) of `stack` on inp (B, L, I_l):
        xp_t = W_ih x_t + b_ih for all steps in one matmul, states (h,) or (h, c) from zero,
        `step` with the stack's W_hh and b_hh, output the stacked h (B, L, H)."""
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        w_ih = getattr(stack, "weight_ih" + suffix)
        b_ih = getattr(stack, "bias_ih" + suffix)
        w_hh = weight_hh_for(stack, suffix, inp.dtype)
        b_hh = getattr(stack, "bias_hh" + suffix)
        xp = F.linear(inp, w_ih, b_ih).unbind(1)  # L x (B, G*H)
        h = inp.new_zeros(inp.shape[0], w_hh.shape[1])  # (B, H)
        initial = (h, torch.zeros_like(h)) if cls.has_cell_state else (h,)

        def step(xp_t: Tensor, states: States) -> tuple[States, Gates]:
            c = states[1] if cls.has_cell_state else None
            h, c, gates = cls.step(xp_t, states[0], c, w_hh, b_hh)
            return ((h, c) if cls.has_cell_state else (h,)), gates

        return Recurrence(xp, initial, step, lambda states: torch.stack(states[0], dim=1))

    @classmethod
    def resolved_state_size(cls, hidden_size: int, state_size: int | None) -> int | None:
        """N, the state size the cell uses given `model.state_size` (None: the cell's
        default); None for a cell whose state has no size of its own."""
        return None

    @classmethod
    def state_elements(cls, hidden_size: int, state_size: int | None) -> int:
        """Recurrent state elements of one layer and direction: H, or 2H with a cell state
        (LSTM: h and c). `state_size` is the resolved N."""
        return hidden_size * (2 if cls.has_cell_state else 1)

    @classmethod
    def layer_params(cls, width: int, hidden_size: int, state_size: int | None) -> int:
        """Trained scalars of one layer and direction reading `width` inputs: G H (I + H)
        (W_ih, W_hh) + 2 G H (b_ih, b_hh). `state_size` is the resolved N."""
        rows = cls.blocks * hidden_size
        return rows * (width + hidden_size) + 2 * rows


class RNN(Cell):
    """Elman RNN with tanh nonlinearity (nn.RNN):

        h' = tanh(W_ih x + b_ih + W_hh h + b_hh)

    xp (B, H), h (B, H), w_hh (H, H), b_hh (H,).
    """

    name, label, fused = "rnn", "vanilla RNN", nn.RNN

    @staticmethod
    def step(xp: Tensor, h: Tensor, c: None, w_hh: Tensor, b_hh: Tensor
             ) -> tuple[Tensor, None, Gates]:
        h = torch.tanh(xp + F.linear(h, w_hh, b_hh))  # (B, H)
        return h, None, {}


class LSTM(Cell):
    """LSTM (nn.LSTM):

        i  = sigmoid(W_ii x + b_ii + W_hi h + b_hi)
        f  = sigmoid(W_if x + b_if + W_hf h + b_hf)
        g  = tanh(W_ig x + b_ig + W_hg h + b_hg)
        o  = sigmoid(W_io x + b_io + W_ho h + b_ho)
        c' = f * c + i * g
        h' = o * tanh(c')

    xp (B, 4H), h (B, H), c (B, H), w_hh (4H, H), b_hh (4H,).
    Returned gates: "input" i, "forget" f, "output" o, each (B, H).
    """

    name, label, fused, blocks = "lstm", "LSTM", nn.LSTM, 4
    gates, has_cell_state, has_forget_bias = ("input", "forget", "output"), True, True
    cpu_view_chunk = 16  # oneDNN's kernel: 2.2 s per view at 16, 3.4 s at 128 (T = 200)

    @staticmethod
    def step(xp: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor
             ) -> tuple[Tensor, Tensor, Gates]:
        i, f, g, o = (xp + F.linear(h, w_hh, b_hh)).chunk(4, dim=-1)  # 4 x (B, H)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g  # (B, H)
        h = o * torch.tanh(c)  # (B, H)
        return h, c, {"input": i, "forget": f, "output": o}


class GRU(Cell):
    """GRU (nn.GRU):

        r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    xp (B, 3H), h (B, H), w_hh (3H, H), b_hh (3H,).
    Returned gates: "reset" r, "update" z, each (B, H).
    """

    name, label, fused, blocks = "gru", "GRU", nn.GRU, 3
    gates = ("reset", "update")

    @staticmethod
    def step(xp: Tensor, h: Tensor, c: None, w_hh: Tensor, b_hh: Tensor
             ) -> tuple[Tensor, None, Gates]:
        x_r, x_z, x_n = xp.chunk(3, dim=-1)  # 3 x (B, H)
        h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)  # 3 x (B, H)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h  # (B, H)
        return h, None, {"reset": r, "update": z}


class IRNN(Cell):
    """IRNN (Le, Jaitly & Hinton 2015), the vanilla RNN that learns the adding problem:

        h' = relu(W_ih x + b_ih + W_hh h + b_hh)

    Initialisation: W_hh = I, b_ih = b_hh = 0, W_ih ~ N(0, 0.001^2) (the paper's). Trains
    through the fused nn.RNN(nonlinearity="relu") (`model.init=orthogonal` replaces the
    identity by a random orthogonal matrix). The paper trained it with SGD, clipped gradients
    and a tuned lr. Measured in rnnmem (docs/calibration.md; adding, RMSprop, clip 1, batches of
    20, 78 units, 10,000 steps): at T = 100 it diverges within 50 steps at lr 1e-3 and reaches
    test MSE 0.011 and 0.006 (two seeds) at 3e-4; at T = 50, 1e-3 reaches 0.009 and 0.008. Its
    recurrent matrix at a tenth of the lr (`optim.lr_scale`) only slows it (T = 100, lr 1e-3:
    0.026 and 0.095), so it keeps the full lr.
    xp (B, H), h (B, H), w_hh (H, H), b_hh (H,).
    """

    name, label, fused = "irnn", "IRNN", nn.RNN
    fused_kwargs = {"nonlinearity": "relu"}
    input_std = 1e-3

    @staticmethod
    def step(xp: Tensor, h: Tensor, c: None, w_hh: Tensor, b_hh: Tensor
             ) -> tuple[Tensor, None, Gates]:
        h = torch.relu(xp + F.linear(h, w_hh, b_hh))  # (B, H)
        return h, None, {}

    @classmethod
    @torch.no_grad()
    def initialise(cls, stack: nn.Module, hidden_size: int) -> None:
        for name, p in stack.named_parameters():
            if name.startswith("weight_hh"):
                p.copy_(torch.eye(hidden_size))
            elif name.startswith("weight_ih"):
                nn.init.normal_(p, std=cls.input_std)
            else:
                p.zero_()


class OrthRNN(Cell):
    """Orthogonal RNN with modReLU (Arjovsky et al. 2016; Lezcano-Casado & Martinez-Rubio 2019,
    expRNN), the cell that solves the copy task:

        z  = W_ih x + b_ih + W_hh h           W_hh orthogonal throughout training
        h' = modReLU(z, b) = sign(z) * relu(|z| + b)

    W_hh = exp(A - A^T) B (torch.nn.utils.parametrizations.orthogonal, matrix exponential with
    dynamic trivialisation): B a fixed random orthogonal matrix, A the trained parameter
    (initially 0), so W_hh is orthogonal after any number of steps and ||dL/dh_t|| cannot
    vanish or explode through W_hh. A and B are kept in float64 and W_hh is rounded to the
    input's dtype where it is used (`weight_hh_for`): a float32 matrix exponential drifts from
    orthogonal by about H * 1e-7, the rounding of an exact one by at most 1.2e-7 entrywise in
    W W^T - I. b (the modReLU bias, held in b_hh) starts
    uniform in [-0.01, 0.01] (expRNN's); W_ih and b_ih keep PyTorch's default
    U(-1/sqrt(H), 1/sqrt(H)). A trains at a tenth of the lr by default (`lr_scale`; expRNN
    gives it its own optimiser at lr/10). Measured in rnnmem (docs/calibration.md, RMSprop
    lr 1e-3, clip 1, batches of 64, seeds 0 and 1): copy T = 100, 128 units, solved by step 500
    and held to step 4000 at lr/10, where A at the full lr oscillates (solved at 1250, 0.17 at
    3500, 0.82 at 4000; the other seed near chance until 3750); copy T = 30, 64 units, recall
    >= 0.99 from step 1000 at lr/10 (0.95-0.99 there at the full lr). No fused kernel: trains
    through UnfusedLayers. Its parameter count (`rnnmem.models.budget`) counts the stored H x H
    matrix A,
    though an orthogonal matrix has H(H-1)/2 degrees of freedom.
    xp (B, H), h (B, H), w_hh (H, H), b_hh (H,) the modReLU bias b.
    """

    name, label = "orth", "orthogonal RNN"
    orthogonal_recurrence = True
    lr_scale = {"recurrent": 0.1}  # A at lr/10 (expRNN's); docs/calibration.md
    modrelu_bias = 0.01

    @staticmethod
    def step(xp: Tensor, h: Tensor, c: None, w_hh: Tensor, b_hh: Tensor
             ) -> tuple[Tensor, None, Gates]:
        z = xp + F.linear(h, w_hh)  # (B, H)
        h = torch.sign(z) * torch.relu(z.abs() + b_hh)  # (B, H)
        return h, None, {}

    @classmethod
    @torch.no_grad()
    def initialise(cls, stack: nn.Module, hidden_size: int) -> None:
        for name in [n for n, _ in stack.named_parameters() if n.startswith("weight_hh")]:
            setattr(stack, name, nn.Parameter(getattr(stack, name).detach().double()))
            nn.init.orthogonal_(getattr(stack, name))
            parametrizations.orthogonal(stack, name, orthogonal_map="matrix_exp")
        for name, p in stack.named_parameters():
            if name.startswith("bias_hh"):
                nn.init.uniform_(p, -cls.modrelu_bias, cls.modrelu_bias)


class UnfusedLayers(nn.Module):
    """The training path of a cell without a fused kernel: a loop over `cell.step`, with the
    parameters a fused module would have (weight_ih_l<k>[_reverse] (G*H, I_k), bias_ih (G*H,),
    weight_hh (G*H, H), bias_hh (G*H,)), initialised as PyTorch's RNNs do, U(-1/sqrt(H),
    1/sqrt(H)), before the cell's own `initialise`. (x (B, L, I), h_0) -> (top (B, L, D*H),
    h_n), as nn.RNN and nn.LSTM take and give them: h_n (depth*D, B, H) the final states (the
    backward direction's after t = 0), a pair (h_n, c_n) for a cell with a cell state; h_0 the
    initial ones in the same layout (None: 0). Layer k > 0 reads layer k-1's directions
    concatenated. The loop keeps only the states (no per-step lists of states or gates) and,
    inside `parametrize.cached()`, computes each parametrized W_hh once per forward."""

    def __init__(self, cell: type[Cell], input_size: int, hidden_size: int, depth: int,
                 bidirectional: bool) -> None:
        super().__init__()
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, depth
        self.num_directions = 2 if bidirectional else 1
        rows, bound = cell.blocks * hidden_size, 1 / math.sqrt(hidden_size)
        for layer in range(depth):
            width = input_size if layer == 0 else self.num_directions * hidden_size
            for direction in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = (("weight_ih", (rows, width)), ("weight_hh", (rows, hidden_size)),
                          ("bias_ih", (rows,)), ("bias_hh", (rows,)))
                for kind, shape in shapes:
                    p = nn.Parameter(torch.empty(shape))
                    nn.init.uniform_(p, -bound, bound)
                    self.register_parameter(kind + suffix, p)

    def forward(self, x: Tensor, h_0: Tensor | tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        inp, h_n, c_n = x, [], []  # inp (B, L, I), then (B, L, D*H)
        h_init, c_init = h_0 if isinstance(h_0, tuple) else (h_0, None)
        with parametrize.cached():
            for layer in range(self.num_layers):
                outs = []
                for d in range(self.num_directions):
                    k = layer * self.num_directions + d
                    out, c = self._run(inp, layer, d, None if h_init is None else h_init[k],
                                       None if c_init is None else c_init[k])
                    outs.append(out)
                    h_n.append(out[:, -1] if d == 0 else out[:, 0])
                    c_n.append(c)
                inp = torch.cat(outs, dim=-1)
        if self.cell.has_cell_state:
            return inp, (torch.stack(h_n), torch.stack(c_n))
        return inp, torch.stack(h_n)

    def _run(self, inp: Tensor, layer: int, direction: int, h: Tensor | None,
             c: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """One layer and direction from the states h, c (B, H) (None: 0): its output
        (B, L, H) and its final cell state (None for a cell without one)."""
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        w_ih, b_ih = getattr(self, "weight_ih" + suffix), getattr(self, "bias_ih" + suffix)
        w_hh = weight_hh_for(self, suffix, inp.dtype)
        b_hh = getattr(self, "bias_hh" + suffix)
        xp = F.linear(inp, w_ih, b_ih).unbind(1)  # L x (B, G*H): unbind keeps backward O(L)
        order = range(inp.shape[1]) if direction == 0 else range(inp.shape[1] - 1, -1, -1)
        if h is None:
            h = inp.new_zeros(inp.shape[0], self.hidden_size)  # (B, H)
        if self.cell.has_cell_state and c is None:
            c = torch.zeros_like(h)
        out = [h] * inp.shape[1]
        for t in order:
            h, c, _ = self.cell.step(xp[t], h, c, w_hh, b_hh)
            out[t] = h
        return torch.stack(out, dim=1), c  # (B, L, H)


def weight_hh_for(stack: nn.Module, suffix: str, dtype: torch.dtype) -> Tensor:
    """W_hh of one layer and direction in `dtype` (a no-op unless it is kept in another
    precision, as the orth cell keeps its orthogonal matrix in float64)."""
    return getattr(stack, "weight_hh" + suffix).to(dtype)


CELLS: dict[str, type[Cell]] = {cell.name: cell for cell in (RNN, LSTM, GRU, IRNN, OrthRNN)}
