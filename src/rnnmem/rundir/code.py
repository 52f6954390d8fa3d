"""The code that made a number: the commit and a digest of the source that produces results.

    source_digest = sha256( for each .py file f under the RESULT_SOURCES folders, by path
                            relative to the package:  path(f) NUL bytes(f) NUL )

RESULT_SOURCES are the package's folders whose code computes what a run records: the tasks
(`tasks/`), the networks, their sizing and optimisers (`models/`), the measures (`measures/`:
the gradient probe, item memory, the forgetting curve) and one run's training (`training/`: its
lifecycle and builders, the Lightning module, callbacks, checkpointing, precision). A module
that makes results lives in one of them, so the rule is the folder, never a list of files.
Everything else is bookkeeping or reading: the entry point and config, run directories and
records, W&B, sweeps, figures and tables. A figure tweak leaves the digest alone, while any edit
of a result-producing file, committed or not, changes it. `git_commit` (with `+dirty`) says
which checkout it was; the digest is what is compared.

    generator_digest(task class) = sha256 of the source files of the class and of its bases
                                   (within packages, not builtins), by module name

keys the held-out cache (`rnnmem.tasks.heldout`): a changed generator never reuses a stale set.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import subprocess
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parents[1]  # src/rnnmem
RESULT_SOURCES = ("tasks", "models", "measures", "training")  # folders of PACKAGE
SHORT = 8  # hex digits of a digest in messages


def _files_digest(files: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for name, path in sorted(files):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def source_digest(root: Path = PACKAGE) -> str:
    """sha256 of the .py files under the RESULT_SOURCES folders of the package directory
    `root`."""
    files = [(path.relative_to(root).as_posix(), path)
             for folder in RESULT_SOURCES for path in sorted((root / folder).rglob("*.py"))]
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


@functools.cache
def git_commit() -> str | None:
    """The commit of the checkout this package runs from (with `+dirty` if modified); asked
    once per process, which a sweep's worker reuses for job after job."""
    root = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}+dirty" if dirty else commit
