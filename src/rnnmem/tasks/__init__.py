"""Memory benchmarks, registered by name: `make_task("copy", 1000)`,
`make_task("mqar", 64, num_pairs=8)`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rnnmem.tasks.adding import AddingTask
from rnnmem.tasks.base import MemoryTask
from rnnmem.tasks.copy import CopyTask
from rnnmem.tasks.heldout import heldout_fingerprint, heldout_nbytes, heldout_set
from rnnmem.tasks.mqar import MQARTask
from rnnmem.tasks.recall import RecallTask
from rnnmem.tasks.selective_copy import SelectiveCopyTask

TASKS: dict[str, type[MemoryTask]] = {"copy": CopyTask, "adding": AddingTask,
                                      "selective_copy": SelectiveCopyTask, "mqar": MQARTask}
AXIS_KEYS = ("name", "seq_len", "delay")  # every task's; the other `task` keys are options


def task_options(task_class: type[MemoryTask]) -> tuple[str, ...]:
    """The keys of the config's `task` section beyond AXIS_KEYS that `task_class` takes (its
    class attribute `options`; copy and adding take none)."""
    return getattr(task_class, "options", ())


def make_task(name: str, seq_len: int, delay: str = "fixed", **options: Any) -> MemoryTask:
    """Instantiate the task registered as `name` with length axis `seq_len` (and `delay`,
    "fixed" or, where the task offers it, "variable", and the task's `options`)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    allowed = task_options(TASKS[name])
    for key in options:
        if key not in allowed:
            raise ValueError(f"{name}: {key} is not an option of this task; its options: "
                             f"{', '.join(allowed) or 'none'}")
    return TASKS[name](seq_len, delay, **options)


def task_from_config(section: Mapping[str, Any] | Any) -> MemoryTask:
    """The task a config's (or a record's) `task` section describes (a mapping, or the typed
    `rnnmem.config.TaskConfig`): its name, seq_len, delay and every option that is not null."""
    values = dict(section.items()) if isinstance(section, Mapping) else dict(vars(section))
    options = {key: value for key, value in values.items()
               if key not in AXIS_KEYS and value is not None}
    return make_task(values["name"], values["seq_len"], values.get("delay", "fixed"),
                     **options)


__all__ = [
    "AXIS_KEYS",
    "TASKS",
    "AddingTask",
    "CopyTask",
    "MQARTask",
    "MemoryTask",
    "RecallTask",
    "SelectiveCopyTask",
    "heldout_fingerprint",
    "heldout_nbytes",
    "heldout_set",
    "make_task",
    "task_from_config",
    "task_options",
]
