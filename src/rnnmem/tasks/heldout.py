"""Held-out validation and test sets, generated once and cached on disk.

A set is keyed by its fingerprint, sha256 of the sorted JSON of `{params: task.params(),
generator: generator_digest(the task's class), split, size, seed, storage_version}`, so
changing any parameter or any line of the generator's source gives a new set and the same ones
reuse the cached one (`rnnmem.rundir.code`). Sets are generated on the
CPU (the same numbers on every machine) from a generator seeded by (seed, split), so "val" and
"test" never share sequences by construction of the seed.

Layout: `<cache_dir>/<task>-<split>-<fingerprint[:16]>/`, a `datasets.Dataset` with columns
x and y (fixed-shape features) saved by `save_to_disk`, and `checksums.json`, the sha256 of each
of its files. Concurrent jobs may build the same set; each writes to a private temporary sibling
(`rnnmem.rundir.atomic.temporary_dir`, named by its process) and renames it into place, and a job
that loses the race keeps the winner's. The temporaries of builds that a kill interrupted (their
process is dead) are removed when a set is next asked for (`remove_stale`). A set whose files
do not match their checksums (a truncated or overwritten file), that fails to load or has the
wrong number of rows is moved aside, with a warning naming it, and built again. `datasets` is
imported where a set is built or read, not with this module, so that reading a sweep's records
(figures, tables) never loads it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from rnnmem.rundir.atomic import remove_stale, temporary_dir
from rnnmem.rundir.code import generator_digest
from rnnmem.tasks.base import MemoryTask

if TYPE_CHECKING:
    from datasets import Array2D, Dataset, Features, List, Value

log = logging.getLogger("rnnmem")
SPLITS = ("val", "test")
STORAGE_VERSION = 4  # bump when the on-disk layout changes: it keys the cache too
CHECKSUM_FILE = "checksums.json"


def heldout_fingerprint(task: MemoryTask, split: str, size: int, seed: int) -> str:
    """sha256 hex digest of everything that defines the held-out set."""
    key = {
        "params": task.params(),
        "generator": generator_digest(type(task)),
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
    for leftover in remove_stale(path.parent):
        log.info("removed %s, left by an interrupted held-out build", leftover)
    data = _load_verified(path, size) if path.exists() else None
    if data is None:
        x, y = task.sample(size, torch.Generator().manual_seed(split_seed(seed, split)))
        x, y = _compact(x.numpy()), y.numpy()
        from datasets import Dataset

        _save_atomically(Dataset.from_dict({"x": x, "y": y}, features=_features(x, y)), path)
        data = _load_verified(path, size)
        if data is None:
            raise OSError(f"held-out set {path} fails its checksum right after it was written")
    return torch.from_numpy(data["x"]).to(torch.float32), torch.from_numpy(data["y"])


def _checksums(directory: Path) -> dict[str, str]:
    """sha256 of every file under `directory` but the checksum file, by relative path."""
    return {
        path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != CHECKSUM_FILE
    }


def _load_verified(path: Path, size: int) -> dict[str, np.ndarray] | None:
    """The cached arrays if the files match their checksums and hold `size` rows; otherwise
    the set is moved aside (warning) and None returned, so that the caller builds it again."""
    try:
        expected = json.loads((path / CHECKSUM_FILE).read_text())
        for name, digest in expected.items():
            if hashlib.sha256((path / name).read_bytes()).hexdigest() != digest:
                raise ValueError(f"{name} does not match its checksum")
        from datasets import load_from_disk

        data = load_from_disk(str(path)).with_format("numpy")[:]
        if len(data["x"]) != size or len(data["y"]) != size:
            raise ValueError(f"{len(data['x'])} rows, expected {size}")
        return data
    except FileNotFoundError as err:
        if not path.exists():
            return None  # another job moved a corrupt set aside meanwhile
        reason = f"missing {Path(err.filename).name}"
    except Exception as err:  # any unreadable cache is rebuilt, never trusted
        reason = f"{type(err).__name__}: {err}"
    log.warning("held-out cache %s is corrupt (%s); rebuilding it", path, reason)
    trash = temporary_dir(path.parent, f"{path.name}.corrupt")
    try:
        os.rename(path, Path(trash) / path.name)
    except OSError:
        pass  # another job moved it aside first
    shutil.rmtree(trash, ignore_errors=True)
    return None


def _compact(x: np.ndarray) -> np.ndarray:
    """Inputs that are all 0 or 1 (one-hot symbols) as uint8: a quarter of the float32 bytes,
    exactly the same numbers once loaded back as float32."""
    return x.astype(np.uint8) if np.isin(x, (0.0, 1.0)).all() else x


def _features(x: np.ndarray, y: np.ndarray) -> Features:
    """Fixed-shape columns: they load back as one contiguous array, not row by row."""
    from datasets import Array2D, Features, List, Value

    def column(array: np.ndarray) -> Value | Array2D | List:
        dtype = str(array.dtype)
        if array.ndim == 1:
            return Value(dtype)
        if array.ndim == 2:
            return List(Value(dtype), length=array.shape[1])
        return Array2D(shape=array.shape[1:], dtype=dtype)

    return Features({"x": column(x), "y": column(y)})


def split_seed(seed: int, split: str) -> int:
    """A 63-bit generator seed from (seed, split); stable across processes, unlike hash(). The
    splits "val" and "test" seed the held-out sets, "items" and "storage" the item sets of the
    memory measures (`rnnmem.training.lifecycle.item_sets`)."""
    digest = hashlib.sha256(f"{seed}/{split}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _save_atomically(dataset: Dataset, path: Path) -> None:
    """Save `dataset` to `path` unless another writer got there first; never a partial `path`."""
    tmp = temporary_dir(path.parent, path.name)
    try:
        dataset.save_to_disk(tmp)
        (Path(tmp) / CHECKSUM_FILE).write_text(json.dumps(_checksums(Path(tmp)), indent=1))
        os.rename(tmp, path)  # atomic; fails if `path` already exists and is non-empty
    except OSError:
        if not path.exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
