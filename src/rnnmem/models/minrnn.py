"""minGRU and minLSTM (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024, "Were RNNs all we
needed?", arXiv 2410.01201): GRU and LSTM with their gates computed from the input alone, so
that the recurrence is linear in h and trains by a parallel scan (`rnnmem.models.scan`).

    minGRU:   z_t = σ(W_z x_t + b_z)                    update gate
              h̃_t = g(W_h x_t + b_h)                    candidate
              h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t

    minLSTM:  f_t = σ(W_f x_t + b_f),  i_t = σ(W_i x_t + b_i),  h̃_t = g(W_h x_t + b_h)
              f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)     (length-independent scaling)
              h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ h̃_t

with g(v) = v + 1/2 for v >= 0, σ(v) otherwise (the paper's, which keeps h̃ > 0 for its
log-space scan; kept here as part of the model, though the linear-space scan does not need it).
The state is h (B, H): H elements per layer and direction; the layer's output is h, as for
the GRU. The weights are one nn.Linear per layer and direction (`linear`: W (G*H, I), b (G*H,),
G = 2 for minGRU (z, h̃), 3 for minLSTM (f, i, h̃)) with PyTorch's default initialisation,
U(-1/sqrt(I), 1/sqrt(I)): the paper states no other. Gates (`rnnmem.measures.probe` statistics):
minGRU "update" z; minLSTM "forget" f' and "input" i' (f' + i' = 1).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from rnnmem.models.cells import Gates
from rnnmem.models.scan import Prepared, ScanCell, ScanLayer, linear_scan


def g(v: Tensor) -> Tensor:
    """The paper's positive activation: v + 1/2 for v >= 0, σ(v) otherwise."""
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


class MinRNNLayer(ScanLayer):
    """One layer and direction: steps = W x + b (B, L, G*H), h (B, H), output h."""

    blocks: ClassVar[int]

    def __init__(self, width: int, hidden_size: int, state_size: None) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.linear = nn.Linear(width, self.blocks * hidden_size)

    def prepare(self, x: Tensor) -> Prepared:
        return Prepared(self.linear(x))  # (B, L, G*H)

    def initial_state(self, prepared: Prepared) -> Tensor:
        return prepared.steps.new_zeros(prepared.steps.shape[0], self.hidden_size)  # (B, H)

    def coefficients(self, k: Tensor) -> tuple[Tensor, Tensor, Gates]:
        """(a, b, gates) of h' = a h + b from the pre-activations k (..., G*H)."""
        raise NotImplementedError

    def step(self, prepared: Prepared, step_input: Tensor, h: Tensor) -> tuple[Tensor, Gates]:
        a, b, gates = self.coefficients(step_input)
        return a * h + b, gates

    def scan(self, prepared: Prepared, initial: Tensor | None = None) -> Tensor:
        a, b, _ = self.coefficients(prepared.steps)
        return linear_scan(a, b, initial)  # (B, L, H)

    def readout(self, prepared: Prepared, h: Tensor) -> Tensor:
        return h


class MinGRULayer(MinRNNLayer):
    blocks = 2

    def coefficients(self, k: Tensor) -> tuple[Tensor, Tensor, Gates]:
        k_z, k_h = k.chunk(2, dim=-1)  # 2 x (..., H)
        z = torch.sigmoid(k_z)
        return 1 - z, z * g(k_h), {"update": z}


class MinLSTMLayer(MinRNNLayer):
    blocks = 3

    def coefficients(self, k: Tensor) -> tuple[Tensor, Tensor, Gates]:
        k_f, k_i, k_h = k.chunk(3, dim=-1)  # 3 x (..., H)
        f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
        forget, inp = f / (f + i), i / (f + i)
        return forget, inp * g(k_h), {"forget": forget, "input": inp}


# Parameter roles (`rnnmem.models.param_groups`): the gates and the candidate are read from the
# input alone, so there is no recurrent matrix: W is `input`, b `bias`, nothing `recurrent`
MIN_ROLES = {"linear.weight": "input", "linear.bias": "bias"}


class MinGRU(ScanCell):
    """minGRU (module docstring). Checked (one seed): Adam, lr 3e-3, clip 1, 2 layers of 64
    units: adding T = 30 test MSE 0.0014 after 1000 steps, copy T = 10 recall 0.29 after 600."""

    name, label, layer_class = "mingru", "minGRU", MinGRULayer
    gates = ("update",)
    roles = MIN_ROLES

    @classmethod
    def layer_params(cls, width: int, hidden_size: int, state_size: int | None) -> int:
        """W (2H, I) and b (2H,)."""
        return 2 * hidden_size * (width + 1)


class MinLSTM(ScanCell):
    """minLSTM (module docstring). Checked (one seed): Adam, lr 3e-3, clip 1, 2 layers of 64
    units: adding T = 30 test MSE 0.0008 after 1000 steps, copy T = 10 recall 0.21 after 600."""

    name, label, layer_class = "minlstm", "minLSTM", MinLSTMLayer
    gates = ("forget", "input")
    roles = MIN_ROLES

    @classmethod
    def layer_params(cls, width: int, hidden_size: int, state_size: int | None) -> int:
        """W (3H, I) and b (3H,)."""
        return 3 * hidden_size * (width + 1)
