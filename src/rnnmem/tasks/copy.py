"""Copy memory problem (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016, sec. 4.1).

Alphabet of 10 classes: 0 blank, 1..8 data symbols, 9 delimiter. With delay T the sequence has
L = T + 20 steps:

    input   a_1 .. a_10 | 0 x (T - 1) | 9 | 0 x 10        a_i ~ U{1..8}
    target  0 x (T + 10)                  | a_1 .. a_10

The delimiter sits at index T + 9; recall occupies indices T + 10 .. T + 19.

Loss: cross-entropy averaged over all L positions. Memoryless baseline: blanks with certainty at
the first T + 10 positions (loss 0) and a uniform guess over the 8 symbols at the 10 recall
positions (loss ln 8 each), so  baseline = 10 ln 8 / (T + 20).

Variable delay (`delay="variable"`, `task.delay=variable`): the delay D is drawn per sequence,
uniformly from {1, ..., T}; the sequence keeps its L = T + 20 steps, so that every batch has one
shape:

    input   a_1 .. a_10 | 0 x (D - 1) | 9 | 0 x 10 | 0 x (T - D)
    target  0 x (D + 10)                  | a_1 .. a_10 | 0 x (T - D)

The delimiter sits at index D + 9, recall at D + 10 .. D + 19, and symbol i is recalled
D + 10 steps after it was seen, so one run measures every lag 11 .. T + 10. Loss, metrics and
solved rule are those of the fixed delay over each sequence's own recall positions, and the
chance accuracy 1/8 and "solved" (recall accuracy >= 0.99) are unchanged. Two baselines, each
named for what it ignores (`baselines`):

    inputs ignored             the best predictor that sees no input predicts at each step t
                               the targets' distribution there: a symbol (uniform over the 8)
                               with probability q_t = |{D : D + 10 <= t <= D + 19}| / T, else
                               blank; its loss is the mean entropy
                               (1 / L) sum_t [ H2(q_t) + q_t ln 8 ],  H2 the binary entropy
                               (1.021 at T = 10, 0.835 at T = 30). This is `baseline`.
    recall position known,     10 ln 8 / (T + 20): it places the recall (it reads the
    symbols ignored            delimiter) and guesses the symbols (0.693 at T = 10, 0.416 at 30)

(with the fixed delay the two are the same: the recall's place is fixed). Gradient distances
(`loss_anchor`) count from the earliest possible recall position, 11 (D = 1).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnmem.tasks.base import MemoryTask
from rnnmem.tasks.items import MemoryItems

BLANK = 0
DELIMITER = 9
NUM_SYMBOLS = 8  # data symbols are 1..NUM_SYMBOLS
RECALL_LEN = 10
NUM_CLASSES = NUM_SYMBOLS + 2


class CopyTask(MemoryTask):
    """Recall 10 symbols after a delay of T blanks; one 10-way output per step."""

    name: ClassVar[str] = "copy"
    input_size: ClassVar[int] = NUM_CLASSES
    num_outputs: ClassVar[int] = NUM_CLASSES
    per_step_output: ClassVar[bool] = True
    min_seq_len: ClassVar[int] = 1
    metric: ClassVar[str] = "acc"
    metric_label: ClassVar[str] = "recall accuracy"
    higher_is_better: ClassVar[bool] = True
    solved_threshold: ClassVar[float] = 0.99
    length_label: ClassVar[str] = "delay T (steps)"
    loss_label: ClassVar[str] = "cross-entropy (nats)"
    delays: ClassVar[tuple[str, ...]] = ("fixed", "variable")
    item_kind: ClassVar[str] = "symbol"
    item_symbols: ClassVar[tuple[int, ...]] = tuple(range(1, NUM_SYMBOLS + 1))

    @property
    def length(self) -> int:
        return self.seq_len + 2 * RECALL_LEN

    @property
    def baseline(self) -> float:
        """The loss of the best predictor that ignores the inputs (module docstring)."""
        if self.delay == "fixed":
            return self.recall_known_baseline
        total = 0.0
        for t in range(self.length):  # q_t: the share of delays D whose recall covers step t
            covering = min(self.seq_len, t - RECALL_LEN) - max(1, t - RECALL_LEN - 9) + 1
            q = max(covering, 0) / self.seq_len
            total += q * math.log(NUM_SYMBOLS) - sum(p * math.log(p) for p in (q, 1 - q) if p)
        return total / self.length

    @property
    def recall_known_baseline(self) -> float:
        """10 ln 8 / (T + 20): the loss of a predictor that knows where the recall is but not
        the symbols (with the fixed delay, where ignoring the inputs gives the same)."""
        return RECALL_LEN * math.log(NUM_SYMBOLS) / self.length

    @property
    def baselines(self) -> dict[str, float]:
        if self.delay == "fixed":
            return super().baselines
        return {**super().baselines,
                "recall position known, symbols ignored": self.recall_known_baseline}

    @property
    def metric_baseline(self) -> float:
        """Recall accuracy of a uniform guess over the data symbols."""
        return 1.0 / NUM_SYMBOLS

    @property
    def metric_baseline_label(self) -> str:
        return f"chance (1/{NUM_SYMBOLS}, memoryless)"

    @property
    def loss_anchor(self) -> int:
        """First recall position, T + 10 (variable delay: the earliest one, 11)."""
        return (self.seq_len if self.delay == "fixed" else 1) + RECALL_LEN

    @property
    def information_steps(self) -> np.ndarray:
        """The 10 symbol steps, 0 .. 9."""
        return np.arange(RECALL_LEN)

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Return x (B, T+20, 10) one-hot float32 and y (B, T+20) int64 class ids."""
        device = generator.device
        symbols = torch.randint(
            1, NUM_SYMBOLS + 1, (batch_size, RECALL_LEN), generator=generator, device=device
        )  # (B, 10)
        delay = None
        if self.delay == "variable":
            delay = torch.randint(1, self.seq_len + 1, (batch_size, 1), generator=generator,
                                  device=device)  # (B, 1): D
        return self._sequences(symbols, delay)

    def _sequences(self, symbols: Tensor, delay: Tensor | None) -> tuple[Tensor, Tensor]:
        """x (B, T+20, 10) and y (B, T+20) of the symbols (B, 10), recalled after the delay T
        (`delay` None) or after each sequence's own delay D (B, 1)."""
        batch, device = len(symbols), symbols.device
        ids = torch.full((batch, self.length), BLANK, dtype=torch.int64, device=device)
        ids[:, :RECALL_LEN] = symbols
        y = torch.full_like(ids, BLANK)  # (B, T+20)
        if delay is None:
            ids[:, self.seq_len + RECALL_LEN - 1] = DELIMITER
            y[:, self.loss_anchor :] = symbols
        else:
            ids.scatter_(1, delay + RECALL_LEN - 1, DELIMITER)
            recall = delay + RECALL_LEN + torch.arange(RECALL_LEN, device=device)  # (B, 10)
            y.scatter_(1, recall, symbols)
        x = F.one_hot(ids, NUM_CLASSES).to(torch.float32)  # (B, T+20, 10)
        return x, y

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy of logits `output` (B, T+20, 10) against `target` (B, T+20)."""
        return F.cross_entropy(output.flatten(0, 1), target.flatten())

    def recall(self, output: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """output (B, 10, C) and target (B, 10) at each sequence's 10 recall positions, the
        only non-blank targets (T+10 .. T+19 with the fixed delay), in time order; no host
        synchronisation."""
        if self.delay == "fixed":
            recall = slice(self.loss_anchor, None)
            return output[:, recall], target[:, recall]
        first = (target != BLANK).int().argmax(dim=1)  # (B,): D + 10
        positions = first[:, None] + torch.arange(RECALL_LEN, device=target.device)  # (B, 10)
        rows = torch.arange(target.shape[0], device=target.device)[:, None]
        return output[rows, positions], target[rows, positions]

    def memory_loss(self, output: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy at the 10 recall positions only (T+10 .. T+19 with the fixed delay).

        The blank targets elsewhere are scored by the training loss but need no memory; their
        local gradients would hide how much gradient the recall sends back through time.
        """
        out, tgt = self.recall(output, target)
        return F.cross_entropy(out.flatten(0, 1), tgt.flatten())

    def metrics(self, output: Tensor, target: Tensor) -> dict[str, Tensor]:
        """loss; acc: recall accuracy over the 10 recall positions; exact: all 10 recalled."""
        output = output.detach()
        out, tgt = self.recall(output, target)
        correct = out.argmax(dim=-1) == tgt  # (B, 10)
        return {
            "loss": self.loss(output, target),
            "acc": correct.float().mean(),
            "exact": correct.all(dim=1).float().mean(),
        }

    def recall_items(self, x: Tensor, output: Tensor, target: Tensor) -> dict[str, np.ndarray]:
        """One item per recalled symbol (B x 10): 1.0 if recalled correctly, else 0.0, with
        its `position` k (input index 0..9), `lag` = D + 10 (from input k to recall index
        D + 10 + k; D = T for the fixed delay, so the same T + 10 for every item) and `symbol`
        (1..8)."""
        out, tgt = self.recall(output.detach(), target)
        correct = out.argmax(dim=-1) == tgt  # (B, 10)
        batch = correct.shape[0]
        delimiter = x[..., DELIMITER].argmax(dim=1).cpu().numpy().astype(np.int64)  # D + 9
        position = np.tile(np.arange(RECALL_LEN, dtype=np.int64), batch)
        return {"position": position, "lag": np.repeat(delimiter + 1, RECALL_LEN),
                "symbol": tgt.reshape(-1).cpu().numpy().astype(np.int64),
                "value": correct.reshape(-1).double().cpu().numpy()}

    def memory_items(self, x: Tensor) -> MemoryItems:
        """The 10 symbols of each sequence, slot i the symbol at input i, recalled at
        r_i = d + 1 + i after the delimiter at d: forward lag r_i - i = D + 10; no backward lag
        (a backward state at r_i has not seen i < r_i)."""
        batch, device = len(x), x.device
        sequence = torch.arange(batch, device=device).repeat_interleave(RECALL_LEN)
        slot = torch.arange(RECALL_LEN, device=device).repeat(batch)
        readout = x[..., DELIMITER].argmax(dim=1)[sequence] + 1 + slot  # (N,): r_i
        lag = torch.stack([readout - slot, torch.full_like(slot, -1)], dim=1)
        return MemoryItems(sequence, slot, slot, readout, lag, x[sequence, slot].argmax(dim=-1))

    def memory_set(self, items_per_lag: int, generator: torch.Generator) -> Tensor:
        """ceil(items_per_lag / 10) sequences per delay (fixed: the one delay T; variable: every
        D in 1..T, so every lag 11..T+10), each with all 10 positions: every lag carries at
        least `items_per_lag` items, spread evenly over the positions."""
        per_delay = -(-items_per_lag // RECALL_LEN)
        delays = 1 if self.delay == "fixed" else self.seq_len
        count = per_delay * delays
        symbols = torch.randint(1, NUM_SYMBOLS + 1, (count, RECALL_LEN), generator=generator,
                                device=generator.device)
        delay = None
        if self.delay == "variable":
            delay = 1 + torch.arange(delays, device=generator.device).repeat(per_delay)[:, None]
        return self._sequences(symbols, delay)[0]

    @property
    def max_lag(self) -> int:
        """T + 10, the lag of every item with the fixed delay and the longest with the variable
        one."""
        return self.seq_len + RECALL_LEN

    def params(self) -> dict[str, object]:
        params = {**super().params(), "num_symbols": NUM_SYMBOLS, "recall_len": RECALL_LEN}
        if self.delay == "variable":
            params["delay_range"] = [1, self.seq_len]
        return params
