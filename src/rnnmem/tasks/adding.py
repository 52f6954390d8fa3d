"""Adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015; Arjovsky et al. 2016, 4.2).

Each of the T steps carries two inputs, a value u_t ~ U[0, 1] and a marker m_t in {0, 1}.
Exactly two markers are set: i ~ U{0 .. T//2 - 1} and j ~ U{T//2 .. T - 1}. The target, read
after the last step, is  y = u_i + u_j.

Loss: mean squared error. Memoryless baseline: always predict E[y] = 1, giving
MSE = Var(u_i + u_j) = 2 / 12 = 1/6.

Items (item memory, `rnnmem.tasks.items`): the two marked values, value items in feature 0 with
ideal gain d y / d u = 1, read after the last step: lag T - 1 - p to the forward readout and p
to the backward one (its final state, at t = 0). An intervention sets u_p to (u_p + 1/2) mod 1,
uniform on [0, 1] like u_p and always 1/2 away from it. The memory set stratifies the marker
positions: every position of each half is marked equally often, so every lag 0..T-1 carries the
same number of items (the halves pair up at random).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnmem.tasks.base import MemoryTask
from rnnmem.tasks.items import MemoryItems, stratified


class AddingTask(MemoryTask):
    """Sum the two marked values of a length-T sequence; one scalar output per sequence."""

    name: ClassVar[str] = "adding"
    input_size: ClassVar[int] = 2
    num_outputs: ClassVar[int] = 1
    per_step_output: ClassVar[bool] = False
    min_seq_len: ClassVar[int] = 2  # each half must hold one marker
    metric: ClassVar[str] = "mse"
    metric_label: ClassVar[str] = "test MSE"
    higher_is_better: ClassVar[bool] = False
    solved_threshold: ClassVar[float] = 0.01
    metric_log_scale: ClassVar[bool] = True
    length_label: ClassVar[str] = "sequence length T (steps)"
    loss_label: ClassVar[str] = "MSE"
    item_kind: ClassVar[str] = "value"
    item_feature: ClassVar[int] = 0  # the value u_t

    @property
    def length(self) -> int:
        return self.seq_len

    @property
    def baseline(self) -> float:
        return 1.0 / 6.0

    @property
    def metric_baseline(self) -> float:
        return self.baseline

    @property
    def metric_baseline_label(self) -> str:
        return "memoryless baseline (1/6)"

    @property
    def loss_anchor(self) -> int:
        """Last step, T - 1, where the sum is read out."""
        return self.seq_len - 1

    @property
    def information_steps(self) -> np.ndarray:
        """Every step: a marker can be anywhere."""
        return np.arange(self.seq_len)

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Return x (B, T, 2) float32 as [value, marker] and y (B,) float32."""
        device = generator.device
        half = self.seq_len // 2
        values = torch.rand(batch_size, self.seq_len, generator=generator, device=device)  # (B, T)
        first = torch.randint(0, half, (batch_size, 1), generator=generator, device=device)
        second = torch.randint(
            half, self.seq_len, (batch_size, 1), generator=generator, device=device
        )
        return _sequences(values, torch.cat([first, second], dim=1))

    def memory_items(self, x: Tensor) -> MemoryItems:
        """The two marked values of each sequence: slot 0 the first marker, slot 1 the second."""
        marked = (x[..., 1] > 0.5).nonzero()[:, 1].reshape(len(x), 2)  # (B, 2), in time order
        rows = torch.arange(len(x), device=x.device)
        sequence, slot = rows.repeat_interleave(2), torch.arange(2, device=x.device).repeat(len(x))
        position = marked.reshape(-1)
        lag = torch.stack([self.seq_len - 1 - position, position], dim=1)
        return MemoryItems(sequence, slot, position, torch.full_like(position, -1), lag,
                           x[sequence, position, self.item_feature])

    def memory_set(self, items_per_lag: int, generator: torch.Generator) -> Tensor:
        """`items_per_lag` x (larger half) sequences whose markers are stratified over each
        half's positions (module docstring): every lag carries at least `items_per_lag` items."""
        device = generator.device
        half = self.seq_len // 2
        count = items_per_lag * max(half, self.seq_len - half)
        values = torch.rand(count, self.seq_len, generator=generator, device=device)
        first = stratified(count, half, generator)
        second = half + stratified(count, self.seq_len - half, generator)
        return _sequences(values, torch.stack([first, second], dim=1))[0]

    def replacement(self, x: Tensor, items: MemoryItems) -> Tensor:
        """u' = (u + 1/2) mod 1: uniform like u, always 1/2 away from it."""
        return torch.remainder(items.value + 0.5, 1.0)

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """MSE of `output` (B, 1) or (B,) against `target` (B,)."""
        return F.mse_loss(_as_vector(output, target), target)

    def metrics(self, output: Tensor, target: Tensor) -> dict[str, Tensor]:
        """loss and mse (the same number, named for the "solved" threshold)."""
        mse = self.loss(output.detach(), target)
        return {"loss": mse, "mse": mse}

    def recall_items(self, x: Tensor, output: Tensor, target: Tensor) -> dict[str, np.ndarray]:
        """One item per sequence: its squared error, `position` p of the first marker (the
        value read longest ago) and `lag` = T - 1 - p, its distance from the readout at the
        last step; `lag_bidirectional`, the same for a bidirectional network, whose backward
        readout reads p after p steps: the larger of the two markers' nearest-readout lags
        min(T - 1 - p, p). `second` is the second marker's position."""
        error = (_as_vector(output.detach(), target) - target) ** 2
        markers = x[..., 1] > 0.5  # (B, T)
        order = torch.arange(self.seq_len, device=x.device).expand_as(markers)
        first = torch.where(markers, order, self.seq_len).min(dim=1).values
        second = torch.where(markers, order, -1).max(dim=1).values
        position = first.cpu().numpy().astype(np.int64)
        later = second.cpu().numpy().astype(np.int64)
        nearest = np.maximum(np.minimum(self.seq_len - 1 - position, position),
                             np.minimum(self.seq_len - 1 - later, later))
        return {"position": position, "lag": self.seq_len - 1 - position,
                "lag_bidirectional": nearest,
                "second": second.cpu().numpy().astype(np.int64),
                "value": error.double().cpu().numpy()}


def _sequences(values: Tensor, marked: Tensor) -> tuple[Tensor, Tensor]:
    """Inputs x (B, T, 2) = [value, marker] and targets y (B,) of the values (B, T) with markers
    at `marked` (B, 2)."""
    markers = torch.zeros_like(values).scatter_(1, marked, 1.0)  # (B, T)
    x = torch.stack([values, markers], dim=-1)  # (B, T, 2)
    y = values.gather(1, marked).sum(dim=1)  # (B,)
    return x, y


def _as_vector(output: Tensor, target: Tensor) -> Tensor:
    """View a (B, 1) readout as (B,); refuse any shape that would broadcast silently."""
    if output.dim() == 2 and output.shape[1] == 1:
        output = output.squeeze(1)
    if output.shape != target.shape:
        raise ValueError(
            f"adding: output shape {tuple(output.shape)} does not match target "
            f"{tuple(target.shape)}; expected (B, 1) or (B,)"
        )
    return output
