"""The Linear Recurrent Unit (Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu & De 2023,
"Resurrecting recurrent neural networks for long sequences", arXiv 2303.06349), inside the
paper's layer (its figure 1: Norm, Recurrence, GLU, Skip), one layer and direction:

    u_t = W_in x_t + b_in                          linear encoder, I -> H
    v_t = LayerNorm(u_t)                           the pre-norm
    h_t = λ ⊙ h_{t-1} + γ ⊙ (B v_t)               N complex states, h_{-1} = 0
    y_t = Re(C h_t) + D ⊙ v_t                      H
    o_t = u_t + GLU(GELU(y_t)),  GLU(w) = (W_1 w + b_1) ⊙ σ(W_2 w + b_2)     the output, H

with λ = exp(-exp(ν) + i exp(θ)) (|λ| < 1 for any real ν: the stable exponential
parametrisation) and γ = exp(γ_log) trained, B ∈ C^{N×H}, C ∈ C^{H×N}, D ∈ R^H. The encoder is
the paper's (its first layer's) at every layer, which also merges the two directions of a
bidirectional layer below; the GELU-then-GLU block is the reference code's
(NicolasZucchet/minimal-LRU, `SequenceLayer`); normalisation is LayerNorm (batch norm would tie
a sequence's output to its batch), no dropout.

Initialisation (the paper's, section 3 and appendix A): |λ| uniform on the ring
[r_min, r_max] in the complex plane, phase uniform in [0, max_phase]:

    ν = log(-½ log(u (r_max² - r_min²) + r_min²)),  θ = log(max_phase · u'),  u, u' ~ U[0, 1]
    γ = sqrt(1 - |λ|²)  (γ_log = log γ)
    B_re, B_im ~ N(0, 1/(2H)),  C_re, C_im ~ N(0, 1/N),  D ~ N(0, 1)

with the reference code's defaults r_min = 0, r_max = 1, max_phase = 6.28 (the paper tunes them
per task); the encoder, LayerNorm and GLU keep PyTorch's defaults.

The state h is complex, stored as a real tensor (B, N, 2) of real and imaginary parts: 2N
state elements per layer and direction, and the probe's g_t is the norm of dL/dh_t over those
2N numbers. N is `model.state_size` (default: N = H). Every parameter is real (B and C are
stored with a trailing axis of size 2), so that `.double()` keeps them whole. Parallel path:
`linear_scan` in complex arithmetic, at least float32. No gates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnmem.models.cells import Gates
from rnnmem.models.scan import Prepared, ScanCell, ScanLayer, linear_scan


@dataclass
class LRUPrepared(Prepared):
    """steps: γ ⊙ (B v_t) as (B, L, N, 2); u, v (B, L, H); λ's real and imaginary parts
    (N, 1) each, for the step on (B, N, 2) states; `lam` (N, 2) for the scan."""

    u: Tensor
    v: Tensor
    lam_re: Tensor
    lam_im: Tensor
    lam: Tensor


class LRULayer(ScanLayer):
    r_min, r_max, max_phase = 0.0, 1.0, 6.28

    def __init__(self, width: int, hidden_size: int, state_size: int) -> None:
        super().__init__()
        h, n = hidden_size, state_size
        self.state_size = n
        self.encoder = nn.Linear(width, h)
        self.norm = nn.LayerNorm(h)
        u = torch.rand(n)
        self.nu_log = nn.Parameter(torch.log(-0.5 * torch.log(
            u * (self.r_max**2 - self.r_min**2) + self.r_min**2)))
        self.theta_log = nn.Parameter(torch.log(self.max_phase * torch.rand(n)))
        modulus = torch.exp(-torch.exp(self.nu_log.detach()))
        self.gamma_log = nn.Parameter(torch.log(torch.sqrt(1 - modulus**2)))
        self.B = nn.Parameter(torch.randn(n, 2, h) / math.sqrt(2 * h))  # [:, 0] real, [:, 1] imag
        self.C = nn.Parameter(torch.randn(h, n, 2) / math.sqrt(n))  # [..., 0] real, [..., 1] imag
        self.D = nn.Parameter(torch.randn(h))
        self.glu = nn.Linear(h, 2 * h)  # W_1, W_2 stacked
        self.register_buffer("turn", torch.tensor([-1.0, 1.0]), persistent=False)

    def prepare(self, x: Tensor) -> LRUPrepared:
        u = self.encoder(x)  # (B, L, H)
        v = self.norm(u)
        modulus, phase = torch.exp(-torch.exp(self.nu_log)), torch.exp(self.theta_log)  # (N,)
        lam_re, lam_im = modulus * torch.cos(phase), modulus * torch.sin(phase)
        bv = F.linear(v, self.B.flatten(0, 1)).unflatten(-1, (self.state_size, 2))  # (B, L, N, 2)
        steps = torch.exp(self.gamma_log)[:, None] * bv
        return LRUPrepared(steps, u, v, lam_re[:, None], lam_im[:, None],
                           torch.stack([lam_re, lam_im], dim=-1))

    def initial_state(self, prepared: LRUPrepared) -> Tensor:
        return prepared.steps.new_zeros(prepared.steps.shape[0], self.state_size, 2)

    def step(self, prepared: LRUPrepared, step_input: Tensor, h: Tensor
             ) -> tuple[Tensor, Gates]:
        """λ h as (Re λ Re h - Im λ Im h, Re λ Im h + Im λ Re h) on h (B, N, 2)."""
        turned = h.flip(-1) * self.turn  # (-Im h, Re h)
        return prepared.lam_re * h + prepared.lam_im * turned + step_input, {}

    def scan(self, prepared: LRUPrepared, initial: Tensor | None = None) -> Tensor:
        real = torch.promote_types(prepared.steps.dtype, torch.float32)  # no complex bfloat16
        lam = torch.view_as_complex(prepared.lam.to(real))  # (N,)
        b = torch.view_as_complex(prepared.steps.to(real))  # (B, L, N)
        a = lam.expand(1, b.shape[1], -1)  # (1, L, N): constant over time
        if initial is not None:  # (B, N, 2) as (B, N) complex
            initial = torch.view_as_complex(initial.to(real).contiguous())
        return torch.view_as_real(linear_scan(a, b, initial)).to(
            prepared.steps.dtype)  # (B, L, N, 2)

    def readout(self, prepared: LRUPrepared, h: Tensor) -> Tensor:
        c = self.C * self.turn.flip(0)  # Re(C h) = C_re Re h - C_im Im h
        y = F.linear(h.flatten(-2), c.flatten(-2)) + self.D * prepared.v  # (B, L, H)
        w1, w2 = self.glu(F.gelu(y)).chunk(2, dim=-1)
        return prepared.u + w1 * torch.sigmoid(w2)


class LRU(ScanCell):
    """The LRU layer (module docstring). H = `model.hidden_size` (the layer's width), N =
    `model.state_size` complex states (default H): 2N real state elements per layer and
    direction. Checked (one seed): Adam, lr 3e-3, clip 1, 2 layers of 64 units: adding T = 30
    test MSE 0.0004 after 1000 steps, copy T = 10 recall 0.999 after 600."""

    name, label, layer_class = "lru", "LRU", LRULayer
    takes_state_size = True
    # Parameter roles (`rnnmem.models.param_groups`): ν, θ (λ, the transition) and γ_log (the
    # normalisation that λ's modulus sets) are `recurrent`; the position-wise weights into and
    # out of the recurrence (encoder, LayerNorm's gain, B, C, D, GLU) are `input`, as W_ih is
    # to the matrix cells; the encoder's, LayerNorm's and GLU's biases are `bias`. Only the
    # head above the stack is `readout`.
    roles = {"nu_log": "recurrent", "theta_log": "recurrent", "gamma_log": "recurrent",
             "B": "input", "C": "input", "D": "input", "encoder.weight": "input",
             "norm.weight": "input", "glu.weight": "input", "encoder.bias": "bias",
             "norm.bias": "bias", "glu.bias": "bias"}

    @classmethod
    def resolved_state_size(cls, hidden_size: int, state_size: int | None) -> int:
        return hidden_size if state_size is None else state_size

    @classmethod
    def state_elements(cls, hidden_size: int, state_size: int | None) -> int:
        return 2 * cls.resolved_state_size(hidden_size, state_size)

    @classmethod
    def layer_params(cls, width: int, hidden_size: int, state_size: int | None) -> int:
        """Encoder H(I + 1), LayerNorm 2H, ν θ γ_log 3N, B and C 2NH each, D H, GLU 2H(H + 1)."""
        h, n = hidden_size, cls.resolved_state_size(hidden_size, state_size)
        return h * (width + 1) + 2 * h + 3 * n + 4 * n * h + h + 2 * h * (h + 1)
