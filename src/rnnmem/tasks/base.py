"""The contract every memory benchmark fulfils.

A task owns its generator, its loss, its metrics and its memoryless baseline, so that a run can
report how far a model is above "learned nothing about memory" (see docs/tasks.md), and
everything else only it knows: which held-out metric decides "solved" (name, direction,
threshold), how figures label its axes, how its held-out error depends on the lag between
the information and the readout (`recall_items`, the raw material of the forgetting curve), and
what must be remembered for it: its items, where each is read and how to change one
(`memory_items` and the rest of the item contract, `rnnmem.tasks.items`), which is all the
memory measures read. The rest of the harness sees only this interface; a new benchmark is one
new subclass and one registry entry in `rnnmem.tasks`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnmem.tasks.items import MemoryItems


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
    # Item memory (`rnnmem.tasks.items`): the kind of item the task holds ("value" or "symbol";
    # None: the task states no items and has no item memory), the input feature a value item
    # sits in, and the symbols a symbol item can be (an intervention swaps among them).
    item_kind: ClassVar[str | None] = None
    item_feature: ClassVar[int] = 0
    item_symbols: ClassVar[tuple[int, ...]] = ()

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
    def baselines(self) -> dict[str, float]:
        """Every memoryless loss the task states, each named for what its predictor ignores:
        the inputs (`baseline`), and where it teaches something, a stronger one."""
        return {"inputs ignored": self.baseline}

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

    # --- item memory (`rnnmem.tasks.items`; the measures are `rnnmem.measures.item_memory`) ---

    def memory_items(self, x: Tensor) -> MemoryItems:
        """The items of inputs x (B, length, input_size): position, readout, lags and value of
        each (`rnnmem.tasks.items.MemoryItems`)."""
        raise NotImplementedError(f"task {self.name!r} states no memory items")

    def memory_set(self, items_per_lag: int, generator: torch.Generator) -> Tensor:
        """Inputs (B, length, input_size), drawn from `generator` on its device, whose items
        put at least `items_per_lag` items at every forward lag 0..`max_lag` the task can have
        (stratified over positions and delays; the subclass says how)."""
        raise NotImplementedError(f"task {self.name!r} states no memory items")

    @property
    def max_lag(self) -> int:
        """The largest forward lag an item can have; the lag axis is 0 .. max_lag."""
        return self.length - 1

    def replacement(self, x: Tensor, items: MemoryItems) -> Tensor:
        """What an intervention changes each item of inputs x to. Symbol items: another symbol
        of `item_symbols`, s' = the k-th next one with k = 1 + (sequence + slot) mod (K - 1), so
        that every position meets every other symbol in turn, with no random numbers. A value
        task states its own rule."""
        if self.item_kind != "symbol":
            raise NotImplementedError(f"task {self.name!r} states no replacement of its items")
        symbols = torch.tensor(self.item_symbols, device=items.value.device)
        index = torch.searchsorted(symbols, items.value)
        shift = 1 + (items.sequence + items.slot) % (len(symbols) - 1)
        return symbols[(index + shift) % len(symbols)]

    def with_items(self, x: Tensor, items: MemoryItems, values: Tensor) -> Tensor:
        """x with every item of `items` set to `values`: a value item's `item_feature` (the
        result is differentiable in `values`), a symbol item's one-hot input vector."""
        if self.item_kind == "value":
            feature = torch.full_like(items.position, self.item_feature)
            return x.index_put((items.sequence, items.position, feature), values.to(x.dtype))
        changed = x.clone()
        changed[items.sequence, items.position] = F.one_hot(values, x.shape[-1]).to(x.dtype)
        return changed

    def readout_of(self, output: Tensor, items: MemoryItems) -> Tensor:
        """The output that should follow each item: for a value item the value read out, (N,);
        for a symbol item the logits at its recall step, (N, C)."""
        if self.per_step_output:
            read = output[items.sequence, items.readout]  # (N, C)
        else:
            read = output[items.sequence]  # (N, num_outputs)
        return read.squeeze(-1) if self.item_kind == "value" else read

    def params(self) -> dict[str, object]:
        """Everything that defines the data (JSON-serialisable); keys the held-out cache. The
        delay only when it is not "fixed", so that the fixed tasks' caches keep their keys."""
        params: dict[str, object] = {"task": self.name, "seq_len": self.seq_len}
        if self.delay != "fixed":
            params["delay"] = self.delay
        return params
