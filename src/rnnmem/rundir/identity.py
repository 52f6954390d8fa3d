"""A run is its config: the hash that names a run's directory, its W&B run and its checkpoint.

    run_hash(cfg) = sha256(JSON of the resolved config, keys sorted, minus BOOKKEEPING)

BOOKKEEPING lists, in one place, the keys that change where or how a run is reported but not a
number it computes: threads, where W&B and the held-out cache live, the progress bar, the checkpoint
interval, the held-out memory budget, what to do with records of other code, the readable name
(itself a function of the config), how a sweep packs jobs onto GPUs (`jobs_per_gpu`; the launcher's
settings are in Hydra's node), whether CUDA picks deterministic kernels (the same function, a fixed
summation order) and Hydra's own node. A `task` key that is null is dropped too: an option of
another task (`rnnmem.config.TaskConfig`), so that a new option in the schema leaves every
existing run's hash as it was. The device kind (CPU or CUDA: they draw different batches from one
seed) is not in the hash: a checkpoint records it and resumes only on its own kind
(`rnnmem.training.lifecycle.fit` refuses another, in one line). Two configs with the same
hash train the same network on the same data; any other change (steps, hidden size, lr, init, probe
settings...) is a new run in a new directory, `<task>/<name>-<run_hash[:8]>`, and a new W&B run.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnnmem.rundir.paths import PLACE_FILE

BOOKKEEPING = (
    "hydra",
    "name",
    "threads",
    "on_code_change",
    "logger",
    "checkpoint",
    "data.cache_dir",
    "data.heldout_max_gb",
    "trainer.progress_bar",
    "trainer.deterministic",
    "jobs_per_gpu",
)
SHORT_HASH = 8  # hex digits of the hash in a run directory's name


def identity_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config without BOOKKEEPING keys and null `task` keys: what the hash is
    taken of.

    Bookkeeping keys are dropped before resolving, so interpolations that only they use (the
    sweep directory, environment variables) are never evaluated."""
    container = OmegaConf.to_container(cfg, resolve=False)
    for key in BOOKKEEPING:
        *parents, leaf = key.split(".")
        node = container
        for parent in parents:
            node = node.get(parent, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    task = container.get("task")
    if isinstance(task, dict):
        for key in [key for key, value in task.items() if value is None]:
            del task[key]
    return OmegaConf.to_container(OmegaConf.create(container), resolve=True)


def hash_of(identity: dict[str, Any]) -> str:
    """sha256 hex digest of an identity config (JSON, sorted keys): stable across processes,
    machines and Python versions."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def run_hash(cfg: DictConfig) -> str:
    """The hash of `identity_config(cfg)`."""
    return hash_of(identity_config(cfg))


@dataclass(frozen=True)
class RunIdentity:
    """What names one run, taken once from its composed config at the entry point, so that
    nothing below it needs the raw config: the resolved config (`config`, as the record states
    it), the part of it the hash is taken of (`identity`: without BOOKKEEPING) and the hash."""

    config: dict[str, Any]
    identity: dict[str, Any]
    hash: str

    @classmethod
    def of(cls, cfg: DictConfig) -> RunIdentity:
        identity = identity_config(cfg)
        return cls(OmegaConf.to_container(cfg, resolve=True), identity, hash_of(identity))


def short_hash(_root_: DictConfig) -> str:
    """`${run_hash:}` in conf/train.yaml: the first SHORT_HASH hex digits of the job's hash."""
    return run_hash(_root_)[:SHORT_HASH]


def place_id(directory: Path) -> str:
    """A random id written once into `directory` (its `.place_id`) and read back ever after: two
    sweep (or run) directories differ in it even where their names are the same, and a resumed
    run finds its own. The first of concurrent writers wins (a hard link is atomic)."""
    path = Path(directory) / PLACE_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{PLACE_FILE}.{os.getpid()}.tmp")
        tmp.write_text(secrets.token_hex(8))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


def wandb_run_id(full_hash: str, group: str | None, place: str) -> str:
    """The W&B run id of a run: its hash, salted with the W&B group and with the `place_id` of
    its sweep directory (of its run directory outside a sweep), so that a restart of the same
    run continues the same W&B run while the same config in another sweep, or in a sweep of
    the same name elsewhere, is another W&B run. 24 hex digits: W&B's id alphabet and length."""
    return hashlib.sha256(f"{place}/{group or ''}/{full_hash}".encode()).hexdigest()[:24]


def config_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two identity configs (added or removed too)."""
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b, dotted = old.get(key), new.get(key), f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            keys += config_differences(a, b, f"{dotted}.")
        elif a != b or (key in old) != (key in new):
            keys.append(dotted)
    return keys
