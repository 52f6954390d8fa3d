"""The contract every memory benchmark fulfils.

A task owns its generator, its loss, its metrics and its memoryless baseline, so that a run can
report how far a model is above "learned nothing about memory" (see docs/tasks.md), and
everything else only it knows: which held-out metric decides "solved" (name, direction,
threshold), how figures label its axes, and how its held-out error depends on the lag between
the information and the readout (`recall_items`, the raw material of the forgetting curve).
The rest of the harness sees only this interface; a new benchmark is one new subclass and one
registry entry in `rnnmem.tasks`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor


class MemoryTask(ABC):
    """A synthetic sequence task parameterised by one length axis, `seq_len` (T).

    Contract of `sample(batch_size, generator)`: the data is drawn on `generator.device` with
    torch ops that consume only `generator`, so the same generator state gives the same batch.
    Inputs are float32 of shape (B, length, input_size). Targets are (B, length) class ids when
    `per_step_output`, else (B,) values.
    """

    name: ClassVar[str]
    input_size: ClassVar[int]
    num_outputs: ClassVar[int]
    per_step_output: ClassVar[bool]
    min_seq_len: ClassVar[int]
    # The held-out metric that decides "solved": record key `test_<metric>`, its label, whether
    # larger is better, the literature's threshold, and whether figures draw it on a log scale.
    metric: ClassVar[str]
    metric_label: ClassVar[str]
    higher_is_better: ClassVar[bool]
    solved_threshold: ClassVar[float]
    metric_log_scale: ClassVar[bool] = False
    length_label: ClassVar[str] = "sequence length T (steps)"
    loss_label: ClassVar[str] = "task loss"
    # where the information sits relative to the readout: "fixed" (the literature's tasks), or
    # "variable" (drawn per sequence) for a task that offers it (`task.delay`)
    delays: ClassVar[tuple[str, ...]] = ("fixed",)

    def __init__(self, seq_len: int, delay: str = "fixed") -> None:
        if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < self.min_seq_len:
            raise ValueError(
                f"{self.name}: seq_len must be an int >= {self.min_seq_len}, got {seq_len!r}"
            )
        if delay not in self.delays:
            raise ValueError(f"{self.name}: delay={delay!r} is not one of: "
                             f"{', '.join(self.delays)}")
        self.seq_len = seq_len
        self.delay = delay

    def __repr__(self) -> str:
        delay = "" if self.delay == "fixed" else f", delay={self.delay!r}"
        return f"{type(self).__name__}(seq_len={self.seq_len}{delay})"

    @property
    @abstractmethod
    def length(self) -> int:
        """Number of input steps per sequence."""

    @property
    @abstractmethod
    def baseline(self) -> float:
        """Expected loss of the best predictor that ignores the inputs."""

    @property
    @abstractmethod
    def loss_anchor(self) -> int:
        """Time index that gradient distances are measured from (where the memory is read)."""

    @property
    @abstractmethod
    def information_steps(self) -> np.ndarray:
        """Time indices whose inputs carry information the loss needs (`memory_coverage`)."""

    @property
    def backward_anchor(self) -> int:
        """Time index from which a backward direction's distances are measured: where the loss
        first reads it, its gradient then flowing toward later t. The readout position for a
        per-step task; t = 0 for a per-sequence one, whose backward readout is its final state."""
        return self.loss_anchor if self.per_step_output else 0

    @abstractmethod
    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Draw a batch `(x, y)` on `generator.device`."""

    @abstractmethod
    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """Scalar training loss of the model's `output` against `target`."""

    def memory_loss(self, output: Tensor, target: Tensor) -> Tensor:
        """The part of the loss that needs memory: what the gradient probe differentiates.

        By default the whole loss; a task whose loss also scores steps that need no memory
        (the copy task's blanks) restricts it to the steps that do. It must be a mean over the
        sequences of the batch, l = mean_b l_b, so that the probe can take it in chunks.
        """
        return self.loss(output, target)

    @abstractmethod
    def metrics(self, output: Tensor, target: Tensor) -> dict[str, Tensor]:
        """Detached 0-dim metric tensors (no host sync); always includes "loss"."""

    @property
    def metric_column(self) -> str:
        """The record's (and `load_run`'s) column of the solved metric: `test_<metric>`."""
        return f"test_{self.metric}"

    @property
    @abstractmethod
    def metric_baseline(self) -> float:
        """The solved metric of the best predictor that ignores the inputs."""

    @property
    def metric_baseline_label(self) -> str:
        return "memoryless baseline"

    def meets_threshold(self, value: float) -> bool:
        """Whether one value of the metric is within the solved threshold (False for NaN):
        `value >= threshold` when larger is better, else `value < threshold`."""
        value = float(value)
        if math.isnan(value):
            return False
        if self.higher_is_better:
            return value >= self.solved_threshold
        return value < self.solved_threshold

    def solved(self, metrics: Mapping[str, float]) -> bool:
        """Whether held-out `metrics` meet the literature's "solved" threshold."""
        return self.meets_threshold(float(metrics[self.metric]))

    @abstractmethod
    def recall_items(self, x: Tensor, output: Tensor, target: Tensor) -> dict[str, np.ndarray]:
        """The held-out metric item by item, with where its information was and how long ago.

        Returns equal-length 1-d arrays: `position` (time index of the information the item needs),
        `lag` (steps from that position to where the readout reads it), `value` (the item's
        contribution to the solved metric, e.g. a squared error or 0/1 correct; the metric is their
        mean), and any task-specific grouping keys. `rnnmem.measures.forgetting` bins
        them into the forgetting curve."""

    def params(self) -> dict[str, object]:
        """Everything that defines the data (JSON-serialisable); keys the held-out cache. The
        delay only when it is not "fixed", so that the fixed tasks' caches keep their keys."""
        params: dict[str, object] = {"task": self.name, "seq_len": self.seq_len}
        if self.delay != "fixed":
            params["delay"] = self.delay
        return params
