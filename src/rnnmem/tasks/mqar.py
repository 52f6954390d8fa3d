"""Multi-query associative recall, MQAR (Arora et al. 2023, Zoology, `multiquery_ar.py`).

Alphabet of V tokens (`vocab_size`), split as Zoology splits it: 0 the filler, keys
1 .. V//2 - 1, values V//2 .. V - 1. N key-value pairs (`num_pairs`) open a sequence of T steps
(`seq_len`); each key is then asked once, at a query slot of the rest, and the network must
output its value there:

    input   k_1 v_1 k_2 v_2 .. k_N v_N | query region of T - 2N steps: filler 0, but k_j at
                                         step 2N + 2 s_j
    target  IGNORE x 2N                | IGNORE, but v_j at step 2N + 2 s_j

    keys k_1 .. k_N: distinct, a uniformly random N-subset of the keys (no key written twice)
    values v_1 .. v_N: distinct, a uniformly random N-subset of the values
    slots: the S = (T - 2N) // 2 even offsets of the query region; N of them are drawn without
        replacement, successively with weights w_i = a i^(a - 1) for slot i - 1 (i = 1 .. S,
        a = `power_a`; Zoology's power law, a = 1 uniform, a < 1 favouring short gaps)
    which pair is asked at which drawn slot: a uniformly random permutation

Pair j is read out at q_j = 2N + 2 s_j from its value at 2j - 1 (1-based j), lag q_j - 2j + 1.
Between queries the input is the filler, which is no key and no value: it can neither ask a
question nor write a new pair. Zoology's default (`random_non_queries=True`) fills these steps
with random tokens of the whole vocabulary, keys and values included, so that a filler key
followed by a filler value rebinds a key (Zoology issue #29); Zoology also gives the pairs
their slots in draw order, so the first pair tends to be asked first (with N = 8, T = 64:
27% against 1/8). Both are removed here.

Loss, metrics and solved rule: `rnnmem.tasks.recall` (cross-entropy at the N query steps; token
and sequence accuracy; solved at token accuracy >= 0.99). Memoryless baselines:

    uniform (ignores the inputs): loss ln |values|, accuracy 1 / |values|, |values| = V - V//2
    unbound values (knows the N values of the sequence, not which key each belongs to):
        loss ln N, accuracy 1/N

Gradient distances count from the first query slot, 2N; the information (the pairs) sits at
steps 0 .. 2N - 1.

Memory items (`rnnmem.tasks.items`): the value of each queried pair, a symbol item among the
values, read out at its query: slot k the k-th query in time order, lag q - (2j + 1), odd, from
1 to 2N + 2S - 3 (S = (T - 2N) // 2 slots). A swap trades the value for one the sequence does
not hold (no two keys share a value, as in training). The memory set stratifies one queried
pair per sequence: for every lag l, sequences whose pair j (cycling over the j that can have
lag l) is asked at slot s = (l + 1) / 2 - N + j, the other pairs at uniformly random other slots
(not the power law: the set asks every lag alike, which is its purpose).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from rnnmem.tasks.items import MemoryItems
from rnnmem.tasks.recall import (
    IGNORE,
    RecallTask,
    first_true,
    one_hot,
    subsets,
    symbol_items,
)

FILLER = 0
VOCAB_SIZE = 8  # keys 1..3, values 4..7: trainable on a CPU (docs/tasks.md)
NUM_PAIRS = 2
POWER_A = 0.01  # Zoology's default


class MQARTask(RecallTask):
    """N key-value pairs, then each key asked once at a power-law gap: output its value."""

    name: ClassVar[str] = "mqar"
    min_seq_len: ClassVar[int] = 4  # one pair and one query slot
    length_label: ClassVar[str] = "sequence length T (steps)"
    options: ClassVar[tuple[str, ...]] = ("vocab_size", "num_pairs", "power_a")

    def __init__(self, seq_len: int, delay: str = "fixed", *, vocab_size: int = VOCAB_SIZE,
                 num_pairs: int = NUM_PAIRS, power_a: float = POWER_A) -> None:
        super().__init__(seq_len, delay, vocab_size)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 4:
            raise ValueError(f"{self.name}: vocab_size must be an int >= 4 (the filler, a key "
                             f"and values), got {vocab_size!r}")
        keys = vocab_size // 2 - 1
        if isinstance(num_pairs, bool) or not isinstance(num_pairs, int) \
                or not 1 <= num_pairs <= min(keys, seq_len // 4):
            raise ValueError(
                f"{self.name}: num_pairs must be an int in [1, {min(keys, seq_len // 4)}] "
                f"(distinct keys: vocab_size={vocab_size} has {keys}; N pairs and N query slots"
                f" fit in 4N <= seq_len={seq_len}), got {num_pairs!r}")
        if isinstance(power_a, bool) or not isinstance(power_a, int | float) \
                or not 0 < power_a < math.inf:
            raise ValueError(f"{self.name}: power_a must be a number > 0 (1 uniform gaps, < 1 "
                             f"favouring short ones), got {power_a!r}")
        self.num_pairs = num_pairs
        self.power_a = float(power_a)

    @property
    def first_value(self) -> int:
        """V//2: values are V//2 .. V - 1, keys 1 .. V//2 - 1."""
        return self.vocab_size // 2

    @property
    def num_values(self) -> int:
        return self.vocab_size - self.first_value

    @property
    def slots(self) -> int:
        """S = (T - 2N) // 2 query slots, at the even offsets of the query region."""
        return (self.seq_len - 2 * self.num_pairs) // 2

    def slot_weights(self) -> Tensor:
        """w_i = a i^(a - 1) for slot i - 1, i = 1 .. S (float64; unnormalised)."""
        i = torch.arange(1, self.slots + 1, dtype=torch.float64)
        return self.power_a * i ** (self.power_a - 1)

    @property
    def length(self) -> int:
        return self.seq_len

    @property
    def guessed_symbols(self) -> int:
        """The values: a uniform guess over them at each query (baseline ln |values|)."""
        return self.num_values

    @property
    def memoryless_baselines(self) -> dict[str, dict[str, float]]:
        """The uniform guess, and a uniform guess over the sequence's own N values."""
        return {**super().memoryless_baselines,
                "unbound values": {"loss": math.log(self.num_pairs),
                                   "acc": 1.0 / self.num_pairs}}

    @property
    def loss_anchor(self) -> int:
        """The first query slot, 2N: no query comes earlier."""
        return 2 * self.num_pairs

    @property
    def information_steps(self) -> np.ndarray:
        """The pairs, 0 .. 2N - 1."""
        return np.arange(2 * self.num_pairs)

    def draw(self, batch_size: int, generator: torch.Generator
             ) -> tuple[Tensor, Tensor, Tensor]:
        """Every random choice of a batch, each (B, N): the keys, the values (pair j is
        (keys[:, j], values[:, j])) and the slot at which pair j is asked."""
        n = self.num_pairs
        keys = 1 + subsets(batch_size, self.first_value - 1, n, generator)
        values = self.first_value + subsets(batch_size, self.num_values, n, generator)
        drawn = subsets(batch_size, self.slots, n, generator,
                        self.slot_weights().to(generator.device))  # Zoology's draw order
        shuffle = torch.rand(batch_size, n, dtype=torch.float64, generator=generator,
                             device=generator.device).argsort(dim=1)  # (B, N) a permutation
        return keys, values, drawn.gather(1, shuffle)

    def layout(self, keys: Tensor, values: Tensor, slots: Tensor) -> tuple[Tensor, Tensor]:
        """Token ids (B, T) and targets (B, T) of given draws (`draw`)."""
        n, batch = self.num_pairs, len(keys)
        ids = torch.full((batch, self.seq_len), FILLER, dtype=torch.int64, device=keys.device)
        ids[:, 0 : 2 * n : 2] = keys
        ids[:, 1 : 2 * n : 2] = values
        queries = 2 * n + 2 * slots  # (B, N) step at which pair j is asked
        ids.scatter_(1, queries, keys)
        y = torch.full_like(ids, IGNORE).scatter_(1, queries, values)
        return ids, y

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """x (B, T, V) one-hot float32 and y (B, T) int64, IGNORE off the query steps."""
        ids, y = self.layout(*self.draw(batch_size, generator))
        return one_hot(ids, self.vocab_size), y

    def item_keys(self, items: MemoryItems) -> dict[str, Tensor]:
        """`pair`: which pair (0-based, in writing order) the query asks."""
        return {"pair": (items.position - 1) // 2}

    @property
    def item_symbols(self) -> tuple[int, ...]:
        """The values V//2 .. V - 1."""
        return tuple(range(self.first_value, self.vocab_size))

    def memory_items(self, x: Tensor) -> MemoryItems:
        """The queried pairs' values, one per query, slot k the k-th query in time order."""
        n, ids = self.num_pairs, x.argmax(dim=-1)  # (B, T)
        readout = 2 * n + first_true(ids[:, 2 * n:] != FILLER, n)  # (B, N) the query steps
        asked = ids.gather(1, readout)  # (B, N) the key of each query
        written = ids[:, 0 : 2 * n : 2]  # (B, N) the key of each pair
        pair = (asked[:, :, None] == written[:, None, :]).int().argmax(dim=2)  # (B, N)
        position = 2 * pair + 1
        return symbol_items(position, readout, ids.gather(1, position))

    def replacement(self, x: Tensor, items: MemoryItems) -> Tensor:
        """A value the item's sequence does not hold: the k-th such, k = (sequence + slot) mod
        (|values| - N), so that the swaps go round the free values with no random numbers."""
        n, ids = self.num_pairs, x.argmax(dim=-1)
        held = ids[:, 1 : 2 * n : 2][items.sequence]  # (N_items, N) the sequence's values
        values = torch.arange(self.first_value, self.vocab_size, device=x.device)  # (M,)
        free = ~(values[None, :, None] == held[:, None, :]).any(dim=2)  # (N_items, M)
        rank = free.cumsum(dim=1) - 1
        k = (items.sequence + items.slot) % (self.num_values - n)
        choice = (free & (rank == k[:, None])).int().argmax(dim=1)
        return values[choice]

    @property
    def max_lag(self) -> int:
        """2N + 2S - 3: the first pair asked at the last slot."""
        return 2 * self.num_pairs + 2 * self.slots - 3

    def memory_set(self, items_per_lag: int, generator: torch.Generator) -> Tensor:
        """`items_per_lag` sequences per odd lag 1 .. max_lag (module docstring)."""
        n, device = self.num_pairs, generator.device
        targets = []  # (pair, slot) per sequence, every lag items_per_lag times
        for lag in range(1, self.max_lag + 1, 2):
            feasible = [(j, (lag + 1) // 2 - n + j) for j in range(n)
                        if 0 <= (lag + 1) // 2 - n + j < self.slots]
            targets += [feasible[i % len(feasible)] for i in range(items_per_lag)]
        pair = torch.tensor([j for j, _ in targets], device=device)
        slot = torch.tensor([s for _, s in targets], device=device)
        count = len(targets)
        keys = 1 + subsets(count, self.first_value - 1, n, generator)
        values = self.first_value + subsets(count, self.num_values, n, generator)
        scores = torch.rand(count, self.slots, generator=generator, device=device)
        scores.scatter_(1, slot[:, None], -1.0)  # the target slot is not drawn again
        others = scores.topk(n - 1, dim=1).indices  # (B, N - 1)
        target = torch.arange(n, device=device)[None, :] == pair[:, None]  # (B, N)
        slots = torch.empty(count, n, dtype=torch.int64, device=device)
        slots[target] = slot
        slots[~target] = others.reshape(-1)
        return one_hot(self.layout(keys, values, slots)[0], self.vocab_size)
