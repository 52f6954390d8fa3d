"""Memory benchmarks, registered by name: `make_task("copy", 1000)`."""

from __future__ import annotations

from rnnmem.tasks.adding import AddingTask
from rnnmem.tasks.base import MemoryTask
from rnnmem.tasks.copy import CopyTask
from rnnmem.tasks.heldout import heldout_fingerprint, heldout_nbytes, heldout_set

TASKS: dict[str, type[MemoryTask]] = {"copy": CopyTask, "adding": AddingTask}


def make_task(name: str, seq_len: int, delay: str = "fixed") -> MemoryTask:
    """Instantiate the task registered as `name` with length axis `seq_len` (and `delay`,
    "fixed" or, where the task offers it, "variable")."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[name](seq_len, delay)


__all__ = [
    "TASKS",
    "AddingTask",
    "CopyTask",
    "MemoryTask",
    "heldout_fingerprint",
    "heldout_nbytes",
    "heldout_set",
    "make_task",
]
