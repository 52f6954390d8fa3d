"""Cells whose recurrence is linear and diagonal in the state, with gates from the input alone:

    h_t = a_t ⊙ h_{t-1} + b_t,   h_{-1} = 0,   (a_t, b_t) position-wise functions of x_t

(minGRU and minLSTM, `rnnmem.models.minrnn`; LRU, `rnnmem.models.lru`; S6,
`rnnmem.models.s6`). Such a cell has two paths over one set of parameters:

- the step path, its step equation applied step by step (`ScanLayer.step`), which the probe
  unrolls (`Cell.recurrence`: each h_t is a tensor autograd can reach);
- the parallel path, which trains: all (a_t, b_t) at once, then `linear_scan`, O(L) work in
  O(log L) sequential levels instead of L steps.

Both apply the same position-wise functions to the same inputs, so they differ by rounding
only (tests/test_scan_cells.py: 1e-5 in float32, 1e-12 in float64).

The scan is linear-space odd-even reduction (Blelloch 1990, "Prefix sums and their
applications", section 1.4: first-order linear recurrences): pair the steps (2k, 2k+1),
whose composition is again one step, (a_{2k+1} a_{2k}, a_{2k+1} b_{2k} + b_{2k+1}); solve the
half-length recurrence for the odd steps; fill in the even ones, h_{2k} = a_{2k} h_{2k-1} +
b_{2k}. It holds for any a and b (negative, complex), and its rounding error grows like log L
(a product of a's is never divided). Heinsen's (2023) log-space form, log h_t = a*_t +
logcumsumexp(log b - a*)_t with a* = cumsum(log a), which minGRU's paper uses, needs b > 0 and
loses digits as |a*_t| grows. Measured against a float64 loop on minGRU's recurrence (gate and
candidate pre-activations drawn from N(0, 1), 32 sequences, 64 units), the float32 maximum
error of the log-space form was 2.9e-5, 5.6e-5 and 2.5e-4 at L = 100, 300 and 1000, that of
this scan 5.3e-7, 6.2e-7 and 6.8e-7 (the float32 step loop's 3.5e-7 to 4.7e-7): the log-space
form misses the 1e-5 the two paths must agree to; hence one scan, in linear space, for every
cell.

A cell of this family is a `ScanCell` with a layer module (`ScanLayer`: one layer, one
direction); `ScanLayers` stacks them (per layer, per direction: `l0`, `l0_reverse`, ...). Its
output width is the hidden size H, as for the matrix cells, so that heads and readouts are
shared. Each states its state (`ScanLayer.initial_state`): the probe's g_t is the norm of
dL/dh_t over all of that state's elements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from rnnmem.models.cells import ROLES, Cell, Gates, Recurrence, States


def linear_scan(a: Tensor, b: Tensor, initial: Tensor | None = None) -> Tensor:
    """h (B, L, ...) with h_t = a_t * h_{t-1} + b_t along dim 1 and h_{-1} = `initial` (B, ...)
    or 0 (module docstring). b (B, L, ...); a broadcasts against b and has the time axis too
    (e.g. (1, L, N) for an a constant over time); real or complex. Differentiable once
    (`LinearScan`); an initial state enters as the first step's b_0 + a_0 h_{-1}."""
    if initial is not None:
        b = torch.cat([b[:, :1] + a[:, :1] * initial[:, None], b[:, 1:]], dim=1)
    return LinearScan.apply(a, b)


class LinearScan(torch.autograd.Function):
    """`odd_even_scan` forward, and its gradient as one more scan rather than through the
    graph of the forward's levels. With g_t = dL/dh_t in total (PyTorch's convention for
    complex numbers: the conjugate of the Wirtinger derivative),

        g_t = dL/dh_t (direct) + conj(a_{t+1}) g_{t+1},   g_L = 0     a scan in reversed time
        dL/db_t = g_t,   dL/da_t = g_t conj(h_{t-1})                   (summed where a broadcast)

    so backward costs one scan and two products, and keeps only a and h
    (tests/test_scan_cells.py: gradcheck, real and complex)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, a: Tensor, b: Tensor) -> Tensor:
        h = odd_even_scan(a, b)
        ctx.save_for_backward(a, h)
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_h: Tensor
                 ) -> tuple[Tensor, Tensor]:
        a, h = ctx.saved_tensors
        a_next = torch.cat([a[:, 1:], torch.zeros_like(a[:, :1])], dim=1).conj()  # a_{t+1}
        g = odd_even_scan(a_next.flip(1), grad_h.flip(1)).flip(1)  # (B, L, ...)
        h_before = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], dim=1)  # h_{t-1}
        return (g * h_before.conj()).sum_to_size(a.shape), g


def odd_even_scan(a: Tensor, b: Tensor) -> Tensor:
    """`linear_scan`'s forward, by odd-even reduction: an odd length gets one neutral step
    (a = 1, b = 0) appended; the steps are paired by a reshape, (B, L/2, 2, ...)."""
    length = b.shape[1]
    if length == 1:
        return b
    if length % 2:
        a = torch.cat([a, torch.ones_like(a[:, :1])], dim=1)
        b = torch.cat([b, torch.zeros_like(b[:, :1])], dim=1)
        return odd_even_scan(a, b)[:, :length]
    a_even, a_odd = a.unflatten(1, (length // 2, 2)).unbind(2)  # 2 x (B, L/2, ...)
    b_even, b_odd = b.unflatten(1, (length // 2, 2)).unbind(2)
    odd = odd_even_scan(a_odd * a_even, a_odd * b_even + b_odd)  # h_1, h_3, ...
    before = torch.cat([torch.zeros_like(odd[:, :1]), odd[:, :-1]], dim=1)  # h_{-1}, h_1, ...
    even = a_even * before + b_even  # h_0, h_2, ...
    return torch.stack([even, odd], dim=2).flatten(1, 2)  # (B, L, ...)


@dataclass
class Prepared:
    """What a `ScanLayer` computes of its input x (B, L, I) before any step: `steps`
    (B, L, ...), the per-step inputs of its step equation; a subclass adds what its readout or
    scan reads (position-wise tensors, time-constant coefficients)."""

    steps: Tensor


class ScanLayer(nn.Module):
    """One layer and direction of a linear diagonal recurrence; x (B, L, I) -> output
    (B, L, H), states (B, L, *S). `forward` is the parallel path; `step` the step equation."""

    def prepare(self, x: Tensor) -> Prepared:
        """The position-wise part, computed once for all steps."""
        raise NotImplementedError

    def initial_state(self, prepared: Prepared) -> Tensor:
        """h_{-1} = 0, (B, *S), real."""
        raise NotImplementedError

    def step(self, prepared: Prepared, step_input: Tensor, h: Tensor) -> tuple[Tensor, Gates]:
        """h_t from h_{t-1} (B, *S) and this step's slice of `prepared.steps`; and the gates."""
        raise NotImplementedError

    def scan(self, prepared: Prepared, initial: Tensor | None = None) -> Tensor:
        """Every h_t at once, (B, L, *S): `linear_scan` of the step's (a_t, b_t), from
        h_{-1} = `initial` (B, *S), or 0."""
        raise NotImplementedError

    def readout(self, prepared: Prepared, h: Tensor) -> Tensor:
        """The layer's output (B, L, H) from its states h (B, L, *S), position-wise."""
        raise NotImplementedError

    def forward(self, x: Tensor, initial: Tensor | None = None) -> tuple[Tensor, Tensor]:
        prepared = self.prepare(x)
        h = self.scan(prepared, initial)
        return self.readout(prepared, h), h


class ScanLayers(nn.Module):
    """The training stack of a `ScanCell`: `depth` layers of `cell.layer`, each direction its
    own module (`l<k>` forward, `l<k>_reverse` backward, which reads the sequence reversed),
    layer k > 0 reading layer k-1's outputs concatenated. (x (B, L, I), h_0) -> (top
    (B, L, D*H), h_n (depth*D, B, *S)), h_n the final states as nn.RNN orders them (the
    backward direction's after t = 0), h_0 the initial ones in the same layout (None: 0), as
    nn.RNN takes them."""

    def __init__(self, cell: type[ScanCell], input_size: int, hidden_size: int, depth: int,
                 bidirectional: bool, *, state_size: int | None) -> None:
        super().__init__()
        self.num_layers = depth
        self.num_directions = 2 if bidirectional else 1
        for layer in range(depth):
            width = input_size if layer == 0 else self.num_directions * hidden_size
            for direction in range(self.num_directions):
                self.add_module(layer_name(layer, direction),
                                cell.layer(width, hidden_size, state_size))

    def direction(self, layer: int, direction: int) -> ScanLayer:
        return getattr(self, layer_name(layer, direction))

    def forward(self, x: Tensor, h_0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        inp, finals = x, []  # inp (B, L, I), then (B, L, D*H)
        for layer in range(self.num_layers):
            outs = []
            for direction in range(self.num_directions):
                reverse = direction == 1  # reads the sequence reversed, output back in time order
                initial = None if h_0 is None else h_0[layer * self.num_directions + direction]
                out, h = self.direction(layer, direction)(inp.flip(1) if reverse else inp,
                                                          initial)
                outs.append(out.flip(1) if reverse else out)
                finals.append(h[:, -1])  # the backward direction's: after t = 0
            inp = torch.cat(outs, dim=-1)
        return inp, torch.stack(finals)


def layer_name(layer: int, direction: int) -> str:
    return f"l{layer}" + ("_reverse" if direction == 1 else "")


class ScanCell(Cell):
    """A registered cell of this family: `layer` builds one layer and direction (a
    `ScanLayer`); `layer_params` and `state_elements` state its counts. No W_hh: the
    `model.init=orthogonal` and `model.forget_bias` options do not apply."""

    recurrent_matrix = False
    cpu_view_chunk = 16  # the scan's (B, L, ...) tensors: minGRU 1.9 s per view at 16, 2.4 at 128
    layer_class: ClassVar[type[ScanLayer]]
    # {a parameter's name within its layer: role (`rnnmem.models.cells.ROLES`)}: every
    # parameter of `layer_class`, each in exactly one role (the cell's docstring says why)
    roles: ClassVar[dict[str, str]]

    @classmethod
    def parameter_role(cls, name: str) -> str:
        """The role of the parameter `name` of the stack (`l<k>[_reverse].<name in its
        layer>`), from `roles`; ValueError names a parameter `roles` does not list."""
        _, _, inside = name.partition(".")
        if inside not in cls.roles:
            raise ValueError(f"cell {cls.name!r}: no parameter role for {name!r} (one of "
                             f"{', '.join(ROLES)}; list it in {cls.__name__}.roles)")
        return cls.roles[inside]

    @classmethod
    def layer(cls, width: int, hidden_size: int, state_size: int | None) -> ScanLayer:
        """One layer and direction, initialised as the cell's paper does."""
        return cls.layer_class(width, hidden_size, cls.resolved_state_size(hidden_size,
                                                                           state_size))

    @classmethod
    def layers(cls, input_size: int, hidden_size: int, depth: int, bidirectional: bool,
               state_size: int | None = None) -> nn.Module:
        return ScanLayers(cls, input_size, hidden_size, depth, bidirectional,
                          state_size=state_size)

    @classmethod
    def recurrence(cls, stack: nn.Module, layer: int, direction: int, inp: Tensor
                   ) -> Recurrence:
        """The step path of one layer and direction on inp (B, L, I_l) in time order (the
        loop runs the backward direction from t = L-1): `prepared.steps` unbound per step,
        h from zero, `ScanLayer.step`, and the readout of the stacked states."""
        module = stack.direction(layer, direction)
        prepared = module.prepare(inp)

        def step(step_input: Tensor, states: States) -> tuple[States, Gates]:
            h, gates = module.step(prepared, step_input, states[0])
            return (h,), gates

        return Recurrence(
            inputs=prepared.steps.unbind(1),  # L x (B, ...)
            initial=(module.initial_state(prepared),),
            step=step,
            output=lambda states: module.readout(prepared, torch.stack(states[0], dim=1)),
        )
