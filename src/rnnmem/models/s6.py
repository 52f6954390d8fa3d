"""S6, the selective state-space recurrence of Mamba (Gu & Dao 2023, "Mamba: linear-time
sequence modeling with selective state spaces", arXiv 2312.00752, Algorithm 2 and section
3.6), inside Mamba's block, one layer and direction:

    [u'_t ; z_t] = W_in x_t                          in_proj, I -> 2H, no bias
    u_t = SiLU(w_c ⊙ u'_t + b_c)                     Mamba's causal convolution at width 1
    [δ_t ; B_t ; C_t] = W_x u_t                      x_proj, H -> R + 2N, no bias
    Δ_t = softplus(W_Δ δ_t + b_Δ)                    dt_proj, R -> H: one step size per channel
    h_t = exp(Δ_t A) ⊙ h_{t-1} + (Δ_t ⊙ u_t) B_t^T   (H, N), h_{-1} = 0: Ā_t = exp(Δ_t A),
                                                     B̄_t u_t = Δ_t B_t u_t (zero-order hold
                                                     for A, Euler for B, as Mamba's code)
    y_t = h_t C_t + D ⊙ u_t                           H
    o_t = W_out (y_t ⊙ SiLU(z_t))                     out_proj, H -> H, no bias: the output

A = -exp(A_log) (H, N) diagonal per channel, R = ceil(H / 16) (Mamba's dt_rank "auto"). H is
`model.hidden_size`, both the block's width and its channel count (expansion 1, where Mamba
uses 2); N is `model.state_size` (default 16, Mamba's d_state). The convolution has width 1
(Mamba's is 4): a per-channel scale w_c and bias b_c, so that the recurrent state is h alone,
H x N elements per layer and direction (the probe's g_t is the norm of dL/dh_t over all of
them). Mamba's residual connection and RMSNorm around the block are left out: the stack is
plain layers, as for the other cells.

Initialisation (Mamba's `mamba_simple.py`): A_log[c, n] = log(n + 1) for n = 0 .. N-1 (S4D-real),
D = 1; W_Δ ~ U(-R^-1/2, R^-1/2); b_Δ = softplus⁻¹(Δ0) with Δ0 log-uniform in [1e-3, 0.1]
(floored at 1e-4), so that softplus(b_Δ) starts in that range. in_proj, x_proj, out_proj and the
width-1 convolution keep PyTorch's defaults (nn.Linear; nn.Conv1d of fan-in 1: w_c, b_c ~
U(-1, 1)).

Gate (`rnnmem.measures.probe` statistics): "retention", Ā_t = exp(Δ_t A) (B, H, N), in (0, 1):
how much of each state element a step keeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnmem.models.cells import Gates
from rnnmem.models.scan import Prepared, ScanCell, ScanLayer, linear_scan

DEFAULT_STATE_SIZE = 16  # Mamba's d_state
DT_MIN, DT_MAX, DT_FLOOR = 1e-3, 0.1, 1e-4  # Mamba's Δ0 range and floor


def dt_rank(hidden_size: int) -> int:
    """R, the rank of Δ's projection: ceil(H / 16)."""
    return math.ceil(hidden_size / 16)


@dataclass
class S6Prepared(Prepared):
    """steps: [Δ_t, Δ_t ⊙ u_t, B_t] (B, L, 2H + N); u, z (B, L, H), C_t (B, L, N), A (H, N)."""

    u: Tensor
    z: Tensor
    c: Tensor
    a: Tensor


class S6Layer(ScanLayer):
    def __init__(self, width: int, hidden_size: int, state_size: int) -> None:
        super().__init__()
        h, n, r = hidden_size, state_size, dt_rank(hidden_size)
        self.hidden_size, self.state_size, self.rank = h, n, r
        self.in_proj = nn.Linear(width, 2 * h, bias=False)
        self.conv_weight = nn.Parameter(torch.empty(h).uniform_(-1, 1))
        self.conv_bias = nn.Parameter(torch.empty(h).uniform_(-1, 1))
        self.x_proj = nn.Linear(h, r + 2 * n, bias=False)
        self.dt_proj = nn.Linear(r, h)
        with torch.no_grad():
            nn.init.uniform_(self.dt_proj.weight, -r**-0.5, r**-0.5)
            log_dt = torch.rand(h) * (math.log(DT_MAX) - math.log(DT_MIN)) + math.log(DT_MIN)
            dt = torch.exp(log_dt).clamp(min=DT_FLOOR)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus⁻¹(Δ0)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)
                                            ).repeat(h, 1))  # (H, N)
        self.D = nn.Parameter(torch.ones(h))
        self.out_proj = nn.Linear(h, h, bias=False)

    def prepare(self, x: Tensor) -> S6Prepared:
        u, z = self.in_proj(x).chunk(2, dim=-1)  # 2 x (B, L, H)
        u = F.silu(self.conv_weight * u + self.conv_bias)
        delta, b, c = self.x_proj(u).split([self.rank, self.state_size, self.state_size],
                                           dim=-1)  # (B, L, R), 2 x (B, L, N)
        delta = F.softplus(self.dt_proj(delta))  # (B, L, H)
        steps = torch.cat([delta, delta * u, b], dim=-1)  # (B, L, 2H + N)
        return S6Prepared(steps, u, z, c, -torch.exp(self.A_log))

    def initial_state(self, prepared: S6Prepared) -> Tensor:
        return prepared.steps.new_zeros(prepared.steps.shape[0], self.hidden_size,
                                        self.state_size)  # (B, H, N)

    def coefficients(self, steps: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
        """(Ā, B̄ u) = (exp(Δ A), (Δ u) B^T), (..., H, N), from steps (..., 2H + N)."""
        h = self.hidden_size
        delta, delta_u, b = steps.split([h, h, self.state_size], dim=-1)
        return torch.exp(delta[..., None] * a), delta_u[..., None] * b[..., None, :]

    def step(self, prepared: S6Prepared, step_input: Tensor, h: Tensor
             ) -> tuple[Tensor, Gates]:
        retention, drive = self.coefficients(step_input, prepared.a)  # 2 x (B, H, N)
        return retention * h + drive, {"retention": retention}

    def scan(self, prepared: S6Prepared, initial: Tensor | None = None) -> Tensor:
        return linear_scan(*self.coefficients(prepared.steps, prepared.a),
                           initial)  # (B, L, H, N)

    def readout(self, prepared: S6Prepared, h: Tensor) -> Tensor:
        y = (h @ prepared.c[..., None]).squeeze(-1) + self.D * prepared.u  # (B, L, H)
        return self.out_proj(y * F.silu(prepared.z))


class S6(ScanCell):
    """Mamba's S6 block (module docstring). H = `model.hidden_size` channels, N =
    `model.state_size` (default 16) per channel: H x N state elements per layer and
    direction. Checked (one seed): Adam, lr 3e-3, clip 1, 2 layers of 64 units: adding T = 30
    test MSE 0.0032 after 1000 steps, copy T = 10 recall 0.25 after 600."""

    name, label, layer_class = "s6", "S6 (Mamba)", S6Layer
    gates = ("retention",)
    takes_state_size = True
    # Parameter roles (`rnnmem.models.param_groups`): what sets the transition Ā_t =
    # exp(Δ_t A) is `recurrent`: A_log, and Δ's projection dt_proj with its bias b_Δ (b_Δ sets
    # the step sizes' time scale, as A_log the decay rates; Mamba exempts both from weight
    # decay). The position-wise weights (in_proj, the width-1 convolution's scale, x_proj, D,
    # out_proj) are `input`, as W_ih is to the matrix cells; the convolution's bias is `bias`.
    roles = {"A_log": "recurrent", "dt_proj.weight": "recurrent", "dt_proj.bias": "recurrent",
             "in_proj.weight": "input", "conv_weight": "input", "x_proj.weight": "input",
             "D": "input", "out_proj.weight": "input", "conv_bias": "bias"}

    @classmethod
    def resolved_state_size(cls, hidden_size: int, state_size: int | None) -> int:
        return DEFAULT_STATE_SIZE if state_size is None else state_size

    @classmethod
    def state_elements(cls, hidden_size: int, state_size: int | None) -> int:
        return hidden_size * cls.resolved_state_size(hidden_size, state_size)

    @classmethod
    def layer_params(cls, width: int, hidden_size: int, state_size: int | None) -> int:
        """in_proj 2HI, convolution 2H, x_proj (R + 2N)H, dt_proj (R + 1)H, A_log NH, D H,
        out_proj H^2."""
        h, n, r = hidden_size, cls.resolved_state_size(hidden_size, state_size), dt_rank(
            hidden_size)
        return 2 * h * width + 2 * h + (r + 2 * n) * h + (r + 1) * h + n * h + h + h * h
