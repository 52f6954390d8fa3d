"""When a run validates, logs and probes, and the optimiser steps per Lightning batch.

Schedules: every n optimiser steps, and at the run's last step,

    due(step) = step % every == 0  or  step == max_steps          (1 <= step <= max_steps)

so every schedule fires at the end of every run, whatever its length: an interval longer than
the run (the defaults' 250-step validation in a 100-step run) means "at the end only", never a
refused run. The probe also runs at step 0, before any update (`rnnmem.training.callbacks`). An
interval must be >= 1 (`rnnmem.config`). Lightning validates and logs the last step by early
stopping's rule (`rnnmem.framework.end_with_validation`).

Steps per batch: a Lightning batch of `rnnmem.training.module.MemoryTaskModule` makes k
optimiser steps, so that Lightning's cost per batch is paid once per k steps; max_steps and
every interval not longer than the run (`schedule_intervals`) must then be a multiple of k, so
that each falls on a batch end and sees the same steps as with k = 1.

The functions here read a run's config by attribute (`cfg.trainer.max_steps`): the composed
DictConfig (the preflight, the entry point) and the typed `rnnmem.config.RunConfig` (training)
alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from math import gcd
from typing import Any

# the schedules of a run, by config key (the probe's only while it is enabled)
SCHEDULE_KEYS = ("trainer.val_every_n_steps", "trainer.log_every_n_steps", "probe.every_n_steps")

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


@dataclass(frozen=True)
class Schedule:
    """Every `every` optimiser steps and at the last step, `max_steps`."""

    every: int
    max_steps: int

    def due(self, step: int) -> bool:
        """Whether the schedule fires after optimiser step `step` (>= 1)."""
        return step % self.every == 0 or step == self.max_steps

    @property
    def interval(self) -> int:
        """The interval as it falls within the run: an interval longer than the run is the
        run's length (it fires at the end only)."""
        return min(self.every, self.max_steps)


def _value(cfg: Any, key: str) -> int:
    section, name = key.split(".")
    return int(getattr(getattr(cfg, section), name))


def schedule_of(cfg: Any, key: str) -> Schedule:
    """The schedule of the config key `key` (one of SCHEDULE_KEYS) in a run of
    `trainer.max_steps` steps."""
    return Schedule(_value(cfg, key), int(cfg.trainer.max_steps))


def active_keys(cfg: Any) -> list[str]:
    """The schedule keys that act in this run: the probe's only while it is enabled."""
    return [key for key in SCHEDULE_KEYS if key != "probe.every_n_steps" or cfg.probe.enabled]


def schedule_intervals(cfg: Any) -> dict[str, int]:
    """The run's length and every interval within it, in optimiser steps, by config key: each
    must fall on a batch end (`steps_per_batch`). An interval longer than the run fires only at
    its end, which `trainer.max_steps` already stands for."""
    max_steps = int(cfg.trainer.max_steps)
    intervals = {"trainer.max_steps": max_steps}
    for key in active_keys(cfg):
        every = _value(cfg, key)
        if every <= max_steps:
            intervals[key] = every
    return intervals


def explicit_keys(overrides: Iterable[str]) -> set[str]:
    """The config keys a command line sets (Hydra's task overrides: `key=value`, `+key=value`,
    `++key=value`)."""
    return {override.split("=", 1)[0].lstrip("+~") for override in overrides}


def long_interval_notes(cfg: Any, explicit: Iterable[str]) -> list[str]:
    """One line for each schedule among the `explicit` keys (set on the command line) whose
    interval is longer than the run: it fires at the end only. Defaults longer than a short
    run are what the user did not ask about, and pass without a note."""
    max_steps, explicit, notes = int(cfg.trainer.max_steps), set(explicit), []
    for key in active_keys(cfg):
        every = _value(cfg, key)
        if key in explicit and every > max_steps:
            when = "at step 0 and at the end" if key == "probe.every_n_steps" else "at the end"
            notes.append(f"{key}={every} is longer than trainer.max_steps={max_steps}: "
                         f"it runs {when} only")
    return notes
