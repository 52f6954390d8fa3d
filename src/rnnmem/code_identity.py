"""The code that made a number: the commit and a digest of the source that produces results.

    source_digest = sha256( for each file f of RESULT_SOURCES, by relative path:
                            path(f) NUL bytes(f) NUL )

RESULT_SOURCES are the package files whose edit can change a number a run computes: the tasks,
the models and their sizing under a parameter budget, training (entry point, the run's lifecycle
and builders, Lightning module, callbacks, checkpointing, devices, the forgetting curve), the
gradient probe and item memory.
Records' readers, figures, tables, the sweep's bookkeeping and W&B logging are not among them: a
figure tweak leaves the digest alone, while any edit of a result-producing file, committed or
not, changes it. `git_commit` (with `+dirty`) says which checkout it was; the digest is what is
compared.

    generator_digest(task class) = sha256 of the source files of the class and of its bases
                                   (within packages, not builtins), by module name

keys the held-out cache (`rnnmem.tasks.heldout`): a changed generator never reuses a stale set.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from pathlib import Path
from typing import Any

from rnnmem.record import git_commit

PACKAGE = Path(__file__).resolve().parent
RESULT_SOURCES = ("tasks", "models", "train.py", "run.py", "build.py", "module.py",
                  "callbacks.py", "preemption.py", "devices.py", "framework.py", "optimisers.py",
                  "budget.py", "forgetting.py", "probe.py", "item_memory.py")
SHORT = 8  # hex digits of a digest in messages


def _files_digest(files: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for name, path in sorted(files):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def source_digest(root: Path = PACKAGE) -> str:
    """sha256 of the RESULT_SOURCES (.py files) under the package directory `root`."""
    files = []
    for entry in RESULT_SOURCES:
        path = root / entry
        found = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        files += [(p.relative_to(root).as_posix(), p) for p in found]
    return _files_digest(files)


def generator_digest(task_class: type) -> str:
    """sha256 of the source of `task_class`'s module and of its bases' modules."""
    files = {}
    for cls in inspect.getmro(task_class):
        if cls.__module__ in ("builtins", "abc", "typing"):
            continue
        source = inspect.getsourcefile(cls)
        if source is not None:
            files[cls.__module__] = Path(source)
    return _files_digest(list(files.items()))


def code_identity() -> dict[str, Any]:
    """What a record and a checkpoint state about the code: `git_commit`, `source_digest`."""
    return {"git_commit": git_commit(), "source_digest": source_digest()}


def describe(code: dict[str, Any]) -> str:
    """'commit 1a2b3c4d+dirty, source 5e6f7a8b' (short forms; 'unknown' where not stated)."""
    commit = code.get("git_commit")
    digest = code.get("source_digest")
    commit_text = "unknown" if not commit else commit[:SHORT] + ("+dirty" if
                                                                  commit.endswith("+dirty") else "")
    return f"commit {commit_text}, source {digest[:SHORT] if digest else 'unknown'}"


def other_code(stated: dict[str, Any]) -> bool:
    """Whether a record or checkpoint (its `source_digest`) was made by other code than this
    process runs; one that states no digest counts as other code."""
    return stated.get("source_digest") != source_digest()
