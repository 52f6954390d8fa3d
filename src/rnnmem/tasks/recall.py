"""Token recall tasks: tokens in, the recalled token out at a few scored positions.

The common scoring of the selective copying task and multi-query associative recall
(docs/tasks.md, "Token recall tasks"). Inputs are one-hot over the task's alphabet of V tokens,
float32 (B, L, V); the network gives V logits per step, (B, L, V); targets are (B, L) int64,
the token to output at a scored position and IGNORE (-100) everywhere else. IGNORE is PyTorch's
`ignore_index` and the convention of the reference generators (MAD-lab, Zoology): the scored
positions differ from sequence to sequence (MQAR), and a target no token can take marks them
exactly, with no blank class for the loss to learn. Every sequence of a task has the same
number n of scored positions, so that

    loss    = mean over the scored (b, r) of -log softmax(output[b, r])[y[b, r]] = mean_b l_b
    acc     = share of the scored positions whose argmax is the target   (token accuracy)
    seq_acc = share of the sequences with all n scored positions right   (sequence accuracy)

The loss scores only positions that need memory (the papers' practice), so the memory loss the
gradient probe differentiates is the loss itself, a mean over sequences as the probe requires.
Solved: held-out token accuracy >= 0.99, as for the copy task.

An *item* is one scored position: the token recalled there, the position where the input held
it and the readout position where the network must output it (`RecallTask.items`); its lag is
readout - position. The held-out metric item by item (`recall_items`) is the forgetting curve.
The same items are the task's memory items (`rnnmem.tasks.items`), symbol items: a backward
direction at the readout has not seen them (every recall comes after its token), and a swap of
the token should move the recall (`rnnmem.measures.item_memory`).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnmem.tasks.base import MemoryTask
from rnnmem.tasks.items import MemoryItems

IGNORE = -100  # the target of a position the loss and the metrics skip


@dataclass(frozen=True)
class Items:
    """The items of a batch, each tensor (B, n) in readout order: where the input held the
    token to recall (`position`), where the network must output it (`readout`), the token
    (`token`), and the task's grouping keys (`keys`, e.g. `k` or `pair`)."""

    position: Tensor
    readout: Tensor
    token: Tensor
    keys: dict[str, Tensor]


class RecallTask(MemoryTask):
    """A token task scored by cross-entropy at its recall positions only (module docstring).

    A subclass states its options (`options`: the keys of the config's `task` section beyond
    `seq_len` and `delay` that its constructor takes), the alphabet size (`vocab_size`, which
    is its input and output width) and its generator, and finds a batch's items (`items`)."""

    per_step_output: ClassVar[bool] = True
    metric: ClassVar[str] = "acc"
    metric_label: ClassVar[str] = "token accuracy"
    higher_is_better: ClassVar[bool] = True
    solved_threshold: ClassVar[float] = 0.99
    loss_label: ClassVar[str] = "cross-entropy at the recall positions (nats)"
    options: ClassVar[tuple[str, ...]]
    item_kind: ClassVar[str] = "symbol"

    def __init__(self, seq_len: int, delay: str, vocab_size: int) -> None:
        super().__init__(seq_len, delay)
        self.vocab_size = vocab_size
        self.input_size = vocab_size  # one-hot tokens in, one logit per token out
        self.num_outputs = vocab_size

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={getattr(self, key)!r}" for key in self.options)
        return f"{type(self).__name__}(seq_len={self.seq_len}, {options})"

    def params(self) -> dict[str, object]:
        return {**super().params(), **{key: getattr(self, key) for key in self.options}}

    @property
    @abstractmethod
    def guessed_symbols(self) -> int:
        """How many symbols the best input-blind guess at a scored step spreads over
        uniformly (the task's answer alphabet)."""

    @property
    def baseline(self) -> float:
        """ln C, C = `guessed_symbols`: a uniform guess at each scored step."""
        return math.log(self.guessed_symbols)

    @property
    def metric_baseline(self) -> float:
        return 1.0 / self.guessed_symbols

    @property
    def metric_baseline_label(self) -> str:
        return f"chance (1/{self.guessed_symbols}, memoryless)"

    @property
    def memoryless_baselines(self) -> dict[str, dict[str, float]]:
        """Expected `loss` and `acc` of each named memoryless predictor; the first is the
        best predictor that ignores the inputs (`baseline`, `metric_baseline`)."""
        return {"uniform": {"loss": self.baseline, "acc": self.metric_baseline}}

    def items(self, x: Tensor) -> Items:
        """The items of a batch of inputs x (B, L, V), tables (B, n) in readout order: the
        memory items (`memory_items`) with the task's keys (`item_keys`)."""
        found = self.memory_items(x)
        def table(values: Tensor) -> Tensor:
            return values.reshape(len(x), -1)  # (B, n)
        return Items(table(found.position), table(found.readout), table(found.value),
                     {key: table(value) for key, value in self.item_keys(found).items()})

    @abstractmethod
    def item_keys(self, items: MemoryItems) -> dict[str, Tensor]:
        """The task's grouping keys of its items (e.g. the token's rank `k`, the `pair`)."""

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy of logits `output` (B, L, V) at the scored positions of `target`."""
        return F.cross_entropy(output.flatten(0, 1), target.flatten(), ignore_index=IGNORE)

    def metrics(self, output: Tensor, target: Tensor) -> dict[str, Tensor]:
        """loss; acc: token accuracy over the scored positions; seq_acc: the share of sequences
        with every scored position right (no host synchronisation)."""
        output = output.detach()
        scored = target != IGNORE  # (B, L)
        right = output.argmax(dim=-1) == target  # (B, L); False wherever target is IGNORE
        return {
            "loss": self.loss(output, target),
            "acc": right.sum() / scored.sum(),
            "seq_acc": (right | ~scored).all(dim=1).float().mean(),
        }

    def recall_items(self, x: Tensor, output: Tensor, target: Tensor) -> dict[str, np.ndarray]:
        """One item per scored position (B x n): `value` 1.0 if the argmax there is the token,
        its `position` in the input, `lag` = readout - position, the `token` and the task's
        keys (`items`)."""
        found = self.items(x)
        predicted = output.detach().argmax(dim=-1).gather(1, found.readout)  # (B, n)
        columns = {"position": found.position, "lag": found.readout - found.position,
                   "token": found.token, **found.keys}
        arrays = {key: value.reshape(-1).cpu().numpy().astype(np.int64)
                  for key, value in columns.items()}
        arrays["value"] = (predicted == found.token).reshape(-1).double().cpu().numpy()
        return arrays


def symbol_items(position: Tensor, readout: Tensor, token: Tensor) -> MemoryItems:
    """Memory items (`rnnmem.tasks.items`) from per-sequence tables (B, n) of where each token
    sat, where it is recalled, and the token: slot k the k-th recall, forward lag readout -
    position, no backward lag."""
    batch, n = position.shape
    sequence = torch.arange(batch, device=position.device).repeat_interleave(n)
    slot = torch.arange(n, device=position.device).repeat(batch)
    position, readout = position.reshape(-1), readout.reshape(-1)
    lag = torch.stack([readout - position, torch.full_like(position, -1)], dim=1)
    return MemoryItems(sequence, slot, position, readout, lag, token.reshape(-1))


def one_hot(ids: Tensor, vocab_size: int) -> Tensor:
    """Token ids (B, L) as float32 one-hot inputs (B, L, V)."""
    return F.one_hot(ids, vocab_size).to(torch.float32)


def subsets(batch_size: int, population: int, size: int, generator: torch.Generator,
            weights: Tensor | None = None) -> Tensor:
    """(B, size) draws without replacement from 0 .. population - 1, one row per sequence, in
    draw order: uniform, or successively in proportion to `weights` (population,) among the
    values not drawn yet. Consumes only `generator` (float64 weights, so that ties between
    the exponential race's keys are negligible)."""
    if weights is None:
        weights = torch.ones(population, dtype=torch.float64, device=generator.device)
    rows = weights.to(torch.float64).expand(batch_size, population)  # (B, population)
    return torch.multinomial(rows, size, replacement=False, generator=generator)


def first_true(mask: Tensor, count: int) -> Tensor:
    """(B, count) indices of the first `count` True entries of each row of `mask` (B, L), in
    increasing order; every row must hold at least `count` (no host synchronisation)."""
    return torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :count]
