"""Optimiser steps per Lightning batch: the largest k that every schedule of a run allows.

A Lightning batch of `rnnmem.training.module.MemoryTaskModule` makes k optimiser steps, so that
Lightning's cost per batch is paid once per k steps; every schedule (max_steps, validation,
logging, probe) must then be a multiple of k, so that each falls on a batch end and sees the
same steps as with k = 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import gcd

# Lightning's ~0.5 ms per batch, and logging's ~2 ms per log_every_n_steps, are then about 1% of
# a small RNN's 1.5 ms step; a batch stays short enough for prompt interrupts (T=1000 on a CPU:
# ~100 ms a step, 5 s a batch)
MAX_AUTO_STEPS_PER_BATCH = 50


def steps_per_batch(intervals: Mapping[str, int], requested: int | None = None,
                    cap: int = MAX_AUTO_STEPS_PER_BATCH) -> int:
    """Optimiser steps per Lightning batch: `requested`, which must divide every interval of the
    run's schedules (`{config key: interval in optimiser steps}`: max_steps, validation, logging,
    probe, checkpoints), or when None the largest divisor of their greatest common divisor that
    is <= `cap`.

    Raises ValueError, one line naming the value and the first interval it does not divide."""
    if requested is not None:
        if requested < 1:
            raise ValueError(f"trainer.steps_per_batch={requested} must be >= 1 (or null)")
        for name, interval in intervals.items():
            if interval % requested:
                raise ValueError(f"trainer.steps_per_batch={requested} does not divide "
                                 f"{name}={interval}: every schedule must fall on a batch end")
        return int(requested)
    common = 0
    for interval in intervals.values():
        common = gcd(common, int(interval))
    return max((k for k in range(1, min(common, cap) + 1) if common % k == 0), default=1)
