"""What a task must be remembered for: its items, where each is read, and how to change one.

An *item* is one piece of information a network needs in order to answer (the adding problem:
one of the two marked values; the copy task: one of the symbols to recall). A task states, for
any batch of inputs x, its items (`MemoryTask.memory_items` -> `MemoryItems`), and the memory
measures (`rnnmem.measures.item_memory`) read only that, never the task's own layout:

    kind       "value" (a real number that the readout should follow one for one) or
               "symbol" (a class that the recall at the readout should name)
    position   the input step the item sits at
    readout    the output step that should follow it (-1 for one output per sequence, read
               after the last step)
    lag        steps from the item to each direction's readout: forward, and backward (-1 where
               no backward state at the readout has seen the item, e.g. a symbol recalled after
               it was shown)
    value      the item itself (a value, or a symbol id)

Two operations on inputs complete the contract, with defaults that fit most tasks:

    with_items(x, items, values)   x with every listed item set to `values` (a value item: its
                                   value feature; a symbol item: its one-hot input), differentiable
                                   in `values`, so that d readout / d value is an autograd call
    replacement(x, items)          what an intervention changes each item to (a value task
                                   states its rule; symbols rotate among `item_symbols`)
    readout_of(output, items)      (N,) the output a value item should move, (N, C) the logits at
                                   a symbol item's recall step

and one constructor of evaluation data, `memory_set(items_per_lag, generator)`: inputs whose
items put at least `items_per_lag` items at every forward lag the task can have (stratified by
the task over positions and delays; each task says how).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

ITEM_KINDS = ("value", "symbol")
FORWARD, BACKWARD = 0, 1  # columns of MemoryItems.lag


@dataclass(frozen=True)
class MemoryItems:
    """The items of a batch of B input sequences, one row per item (module docstring); `slot`
    is an item's index among its sequence's items, so that an intervention can change one slot
    of every sequence at once and leave the others alone. Tensors on the inputs' device."""

    sequence: Tensor  # (N,) int64: its sequence's row in the batch
    slot: Tensor      # (N,) int64
    position: Tensor  # (N,) int64: input step
    readout: Tensor   # (N,) int64: output step that should follow it; -1: the sequence's output
    lag: Tensor       # (N, 2) int64: steps to the forward and the backward readout (-1: none)
    value: Tensor     # (N,) the item (float for value items, int64 symbol ids)

    def __len__(self) -> int:
        return len(self.sequence)

    def select(self, mask: Tensor) -> MemoryItems:
        """The items where `mask` (N,) is true."""
        return MemoryItems(self.sequence[mask], self.slot[mask], self.position[mask],
                           self.readout[mask], self.lag[mask], self.value[mask])

    def slots(self) -> list[MemoryItems]:
        """The items grouped by slot: in each group a sequence has at most one item."""
        return [self.select(self.slot == k) for k in torch.unique(self.slot).tolist()]

    def with_value(self, value: Tensor) -> MemoryItems:
        return replace(self, value=value)

    def lags(self, bidirectional: bool) -> np.ndarray:
        """(N,) each item's lag to the nearest readout of a network: the forward readout's, or
        for a bidirectional one the nearer of the two (a backward lag of -1 does not count)."""
        forward = self.lag[:, FORWARD]
        if not bidirectional:
            return forward.cpu().numpy().astype(np.int64)
        backward = self.lag[:, BACKWARD]
        nearer = torch.where(backward >= 0, torch.minimum(forward, backward), forward)
        return nearer.cpu().numpy().astype(np.int64)


def stack_items(*parts: MemoryItems) -> MemoryItems:
    """Several item tables of one batch as one (rows in the order given)."""
    return MemoryItems(*(torch.cat([getattr(p, name) for p in parts])
                         for name in ("sequence", "slot", "position", "readout", "lag", "value")))


def stratified(count: int, choices: int, generator: torch.Generator) -> Tensor:
    """(count,) draws from range(choices) in which every choice occurs floor(count / choices)
    or one more times, in an order drawn from `generator`: a stratified sample, so that a set of
    `choices * n` draws holds every choice exactly n times."""
    device = generator.device
    repeats = torch.arange(choices, device=device).repeat(-(-count // choices))[:count]
    return repeats[torch.randperm(count, generator=generator, device=device)]
