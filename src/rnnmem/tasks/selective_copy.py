"""Selective copying (Gu & Dao 2023, section 3.1 and appendix E.1; MAD-lab, Poli et al. 2024).

Alphabet of V tokens (`vocab_size`): 0 noise, 1 .. D data tokens (D = V - 2), V - 1 marker.
K tokens (`num_tokens`) sit at random positions of a noisy region of T steps (`seq_len`), and
are recalled in order at the K marker steps after it. L = T + K steps:

    input   region of T steps: a_1 .. a_K at p_1 < .. < p_K, noise elsewhere | V-1 x K
    target  IGNORE x T                                                       | a_1 .. a_K

    {p_1 .. p_K}: a uniformly random K-subset of 0 .. T - 1;  a_k ~ U{1 .. D}, independent.

Token a_k is read out at step T + k - 1, lag T + k - 1 - p_k, between K (p_k = T - K + k - 1)
and T (p_k = k - 1). This is the layout of the S4 repository's selective copying generator
(noise length T - K, "variable" token positions, K markers), the nearest published one to Gu &
Dao's task, whose own code was not released.

Loss, metrics and solved rule: `rnnmem.tasks.recall` (cross-entropy at the K recall steps;
token and sequence accuracy; solved at token accuracy >= 0.99). Memoryless baselines:

    uniform (ignores the inputs):  loss ln D,  accuracy 1/D
    bag of tokens (knows which tokens occurred and how often, not in which order):
        predicts c_s / K for token s with count c_s, so
        loss = E[-ln((1 + X) / K)],  X ~ Binomial(K - 1, 1/D)    (the other K - 1 tokens)
        accuracy = E[max_s c_s] / K,  (c_1 .. c_D) ~ Multinomial(K; 1/D, .., 1/D)

Gradient distances count from the first recall step, T; every step of the region can hold a
token, so all T carry information.

Memory items (`rnnmem.tasks.items`): the K tokens, symbol items among the data tokens, slot k
read out at T + k. The memory set stratifies the first token's lag over K .. T (its position
T - lag; the other K - 1 positions a uniformly random subset of the steps after it), so that
every lag carries at least the asked number of items (the first token's alone), the others
adding more; tokens uniform as in training.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from rnnmem.tasks.items import MemoryItems, stratified
from rnnmem.tasks.recall import (
    IGNORE,
    RecallTask,
    first_true,
    one_hot,
    subsets,
    symbol_items,
)

NOISE = 0
VOCAB_SIZE = 10  # 8 data tokens, noise and marker
NUM_TOKENS = 4


class SelectiveCopyTask(RecallTask):
    """Recall, in order, K tokens scattered among noise in a region of T steps."""

    name: ClassVar[str] = "selective_copy"
    min_seq_len: ClassVar[int] = 1
    length_label: ClassVar[str] = "noisy region T (steps)"
    options: ClassVar[tuple[str, ...]] = ("vocab_size", "num_tokens")

    def __init__(self, seq_len: int, delay: str = "fixed", *, vocab_size: int = VOCAB_SIZE,
                 num_tokens: int = NUM_TOKENS) -> None:
        super().__init__(seq_len, delay, vocab_size)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 3:
            raise ValueError(f"{self.name}: vocab_size must be an int >= 3 (noise, marker and "
                             f"at least one data token), got {vocab_size!r}")
        if isinstance(num_tokens, bool) or not isinstance(num_tokens, int) \
                or not 1 <= num_tokens <= seq_len:
            raise ValueError(f"{self.name}: num_tokens must be an int in [1, seq_len={seq_len}]"
                             f" (the tokens take distinct steps of the region), got "
                             f"{num_tokens!r}")
        self.num_tokens = num_tokens

    @property
    def data_tokens(self) -> int:
        """D = V - 2: the tokens 1 .. D that can be recalled."""
        return self.vocab_size - 2

    @property
    def marker(self) -> int:
        return self.vocab_size - 1

    @property
    def length(self) -> int:
        return self.seq_len + self.num_tokens

    @property
    def guessed_symbols(self) -> int:
        """The D data tokens: a uniform guess over them at each recall step (baseline ln D)."""
        return self.data_tokens

    @cached_property
    def memoryless_baselines(self) -> dict[str, dict[str, float]]:
        """The uniform guess, and the bag of tokens (module docstring), in closed form."""
        k, d = self.num_tokens, self.data_tokens
        others = np.arange(k)  # X: how many of the other K - 1 tokens equal this one
        pmf = np.array([math.comb(k - 1, x) * (1 / d) ** x * (1 - 1 / d) ** (k - 1 - x)
                        for x in others])
        bag_loss = float(np.sum(pmf * -np.log((1 + others) / k)))
        return {**super().memoryless_baselines,
                "bag of tokens": {"loss": bag_loss, "acc": _expected_max_count(k, d) / k}}

    @property
    def loss_anchor(self) -> int:
        """The first recall step, T."""
        return self.seq_len

    @property
    def information_steps(self) -> np.ndarray:
        """Every step of the region, 0 .. T - 1: a token can sit at any of them."""
        return np.arange(self.seq_len)

    def draw(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Every random choice of a batch: token positions p (B, K), increasing, and tokens
        a (B, K) in 1 .. D."""
        positions = subsets(batch_size, self.seq_len, self.num_tokens, generator)
        tokens = torch.randint(1, self.data_tokens + 1, (batch_size, self.num_tokens),
                               generator=generator, device=generator.device)
        return positions.sort(dim=1).values, tokens

    def layout(self, positions: Tensor, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """Token ids (B, L) and targets (B, L) of given draws (`draw`)."""
        batch = len(tokens)
        ids = torch.full((batch, self.length), NOISE, dtype=torch.int64, device=tokens.device)
        ids.scatter_(1, positions, tokens)
        ids[:, self.seq_len:] = self.marker
        y = torch.full_like(ids, IGNORE)
        y[:, self.seq_len:] = tokens
        return ids, y

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """x (B, T+K, V) one-hot float32 and y (B, T+K) int64, IGNORE off the recall steps."""
        ids, y = self.layout(*self.draw(batch_size, generator))
        return one_hot(ids, self.vocab_size), y

    def item_keys(self, items: MemoryItems) -> dict[str, Tensor]:
        """`k`: the token's rank in the region, recalled at T + k."""
        return {"k": items.slot}

    @property
    def item_symbols(self) -> tuple[int, ...]:
        """The data tokens 1 .. D: a swap trades one for another."""
        return tuple(range(1, self.data_tokens + 1))

    def memory_items(self, x: Tensor) -> MemoryItems:
        """The K tokens of each sequence's region, slot k recalled at T + k."""
        region = x[:, : self.seq_len].argmax(dim=-1)  # (B, T) token ids
        position = first_true(region != NOISE, self.num_tokens)  # (B, K)
        k = torch.arange(self.num_tokens, device=x.device).expand_as(position)
        return symbol_items(position, self.seq_len + k, region.gather(1, position))

    @property
    def max_lag(self) -> int:
        """T: the first token at step 0, recalled at T."""
        return self.seq_len

    def memory_set(self, items_per_lag: int, generator: torch.Generator) -> Tensor:
        """`items_per_lag` sequences per lag K .. T of the first token (module docstring)."""
        device, k = generator.device, self.num_tokens
        count = items_per_lag * (self.seq_len - k + 1)
        first = self.seq_len - (k + stratified(count, self.seq_len - k + 1, generator))  # (B,)
        steps = torch.arange(self.seq_len, device=device)
        keys = torch.rand(count, self.seq_len, generator=generator, device=device)
        keys[steps[None, :] <= first[:, None]] = -1.0  # only the steps after the first token
        others = keys.topk(k - 1, dim=1).indices  # (B, K - 1)
        positions = torch.cat([first[:, None], others], dim=1).sort(dim=1).values
        tokens = torch.randint(1, self.data_tokens + 1, (count, k), generator=generator,
                               device=device)
        return one_hot(self.layout(positions, tokens)[0], self.vocab_size)


def _expected_max_count(draws: int, categories: int) -> float:
    """E[max_s c_s] for (c_1 .. c_D) ~ Multinomial(draws; uniform over D = `categories`):
    sum over m >= 1 of P(max >= m), where P(max <= m) follows category by category, each
    count Binomial(draws left, 1 / categories left)."""
    expected = 0.0
    for m in range(1, draws + 1):
        below = np.array([1.0 if n <= m - 1 else 0.0 for n in range(draws + 1)])
        for left in range(2, categories + 1):  # P(the last `left` counts are all <= m - 1)
            below = np.array([
                sum(math.comb(n, c) * (1 / left) ** c * (1 - 1 / left) ** (n - c) * below[n - c]
                    for c in range(min(m - 1, n) + 1))
                for n in range(draws + 1)])
        expected += 1.0 - below[draws]
    return float(expected)
