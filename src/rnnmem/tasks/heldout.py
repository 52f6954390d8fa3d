"""Held-out validation and test sets, generated once and cached on disk.

A set is keyed by its fingerprint, sha256 of the sorted JSON of `{params: task.params(),
generator_version, split, size, seed, storage_version}`, so changing any parameter or
the generator gives a new set and the same ones reuse the cached one. Sets are generated on the
CPU (the same numbers on every machine) from a generator seeded by (seed, split), so "val" and
"test" never share sequences by construction of the seed.

Layout: `<cache_dir>/<task>-<split>-<fingerprint[:16]>/`, a `datasets.Dataset` with columns
x and y (fixed-shape features) saved by `save_to_disk`. Concurrent jobs may build the same set;
each writes to a private temporary sibling and renames it into place, and a job that loses the
race keeps the winner's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from datasets import Array2D, Dataset, Features, List, Value, load_from_disk
from torch import Tensor

from rnnmem.tasks.base import MemoryTask

SPLITS = ("val", "test")
STORAGE_VERSION = 3  # bump when the on-disk layout changes: it keys the cache too


def heldout_fingerprint(task: MemoryTask, split: str, size: int, seed: int) -> str:
    """sha256 hex digest of everything that defines the held-out set."""
    key = {
        "params": task.params(),
        "generator_version": task.generator_version,
        "split": split,
        "size": size,
        "seed": seed,
        "storage_version": STORAGE_VERSION,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def heldout_nbytes(task: MemoryTask, size: int) -> int:
    """Bytes of one held-out set's arrays as generated: float32 inputs (size, length,
    input_size) and int64/float targets, one per step or one per sequence."""
    targets = task.length if task.per_step_output else 1
    return size * (task.length * task.input_size * 4 + targets * 8)


def heldout_set(
    task: MemoryTask, split: str, size: int, seed: int, cache_dir: str | Path
) -> tuple[Tensor, Tensor]:
    """Return the held-out `(x, y)` on the CPU, with the dtypes and shapes of `task.sample`
    (float32 inputs)."""
    if split not in SPLITS:
        raise ValueError(f"heldout split must be one of {SPLITS}, got {split!r}")
    if size < 1:
        raise ValueError(f"heldout size must be >= 1, got {size!r}")
    fingerprint = heldout_fingerprint(task, split, size, seed)
    path = Path(cache_dir) / f"{task.name}-{split}-{fingerprint[:16]}"
    if not path.exists():
        x, y = task.sample(size, torch.Generator().manual_seed(_split_seed(seed, split)))
        x, y = _compact(x.numpy()), y.numpy()
        _save_atomically(Dataset.from_dict({"x": x, "y": y}, features=_features(x, y)), path)
    data = load_from_disk(str(path)).with_format("numpy")[:]
    return torch.from_numpy(data["x"]).to(torch.float32), torch.from_numpy(data["y"])


def _compact(x: np.ndarray) -> np.ndarray:
    """Inputs that are all 0 or 1 (one-hot symbols) as uint8: a quarter of the float32 bytes,
    exactly the same numbers once loaded back as float32."""
    return x.astype(np.uint8) if np.isin(x, (0.0, 1.0)).all() else x


def _features(x: np.ndarray, y: np.ndarray) -> Features:
    """Fixed-shape columns: they load back as one contiguous array, not row by row."""

    def column(array: np.ndarray) -> Value | Array2D | List:
        dtype = str(array.dtype)
        if array.ndim == 1:
            return Value(dtype)
        if array.ndim == 2:
            return List(Value(dtype), length=array.shape[1])
        return Array2D(shape=array.shape[1:], dtype=dtype)

    return Features({"x": column(x), "y": column(y)})


def _split_seed(seed: int, split: str) -> int:
    """A 63-bit generator seed from (seed, split); stable across processes, unlike hash()."""
    digest = hashlib.sha256(f"{seed}/{split}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _save_atomically(dataset: Dataset, path: Path) -> None:
    """Save `dataset` to `path` unless another writer got there first; never a partial `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        dataset.save_to_disk(tmp)
        os.rename(tmp, path)  # atomic; fails if `path` already exists and is non-empty
    except OSError:
        if not path.exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
