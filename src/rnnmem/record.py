"""The local run record: one source of truth per run, in the run's output directory.

`record.json` holds the resolved config, its hash (`rnnmem.identity`), the status (`finished`,
`diverged`, `failed`, or `preempted` with the step of its checkpoint), the
final held-out metrics, the memoryless baseline, `solved`, timings, the learning curves, the
gradient-probe summaries and the code version. `probe.npz` holds the per-timestep arrays of the
gradient probe. Both are written atomically (temporary file, then rename), the arrays first, so
that a `record.json` present is a complete record.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

RECORD_FILE = "record.json"
PROBE_FILE = "probe.npz"
STATUSES = ("finished", "diverged", "failed", "preempted")
COMPLETE = ("finished", "diverged")


def _atomic_write(path: Path, write: Any, mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_record(run_dir: Path, record: Mapping[str, Any]) -> None:
    """Write `record.json` atomically; `status` must be one of STATUSES."""
    if record["status"] not in STATUSES:
        raise ValueError(f"status={record['status']!r} is not one of: {', '.join(STATUSES)}")
    text = json.dumps(record, indent=1, sort_keys=True, allow_nan=True)
    _atomic_write(Path(run_dir) / RECORD_FILE, lambda f: f.write(text), "w")


def write_probe_arrays(run_dir: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write the gradient probe's arrays to `probe.npz` atomically."""
    _atomic_write(Path(run_dir) / PROBE_FILE, lambda f: np.savez(f, **arrays), "wb")


class CorruptRecord(ValueError):
    """A `record.json` that is not a JSON object with a status; the message names the file."""


def read_record(run_dir: Path) -> dict[str, Any]:
    """The parsed `record.json` of a run; FileNotFoundError if the run never completed,
    CorruptRecord (naming the file) if it is truncated or otherwise unreadable."""
    path = Path(run_dir) / RECORD_FILE
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptRecord(f"corrupt run record {path}: {err}") from None
    if not isinstance(record, dict) or record.get("status") not in STATUSES:
        raise CorruptRecord(f"corrupt run record {path}: no valid status")
    return record


def read_probe_arrays(run_dir: Path) -> dict[str, np.ndarray]:
    """The arrays of `probe.npz` ({} if the run has none)."""
    path = Path(run_dir) / PROBE_FILE
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


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
