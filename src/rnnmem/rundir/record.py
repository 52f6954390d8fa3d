"""The local run record: one source of truth per run, in the run's output directory.

`record.json` holds the resolved config, its hash (`rnnmem.rundir.identity`), the status
(`finished`, `diverged`, `failed`, or `preempted` with the step of its checkpoint), the
final held-out metrics, the memoryless baseline, `solved`, timings, the learning curves, the
gradient-probe summaries and the code version. `probe.npz` holds the per-timestep arrays of the
gradient probe. Both are written atomically (`rnnmem.rundir.atomic`: temporary file, then
rename), the arrays first, so that a `record.json` present is a complete record. A record that
cannot be parsed, that has no valid status, or that says a run started (finished, diverged,
preempted) without stating its config is corrupt (`CorruptRecord`); probe arrays that cannot be
read back whole are corrupt too (`CorruptProbe`, `probe_problem`): readers skip such a run,
naming the file, and the run directory's verdict trains it again.

`RunRecord` is the record's type: `rnnmem.training.lifecycle` writes it, `rnnmem.sweeps.monitor`
writes the short record of a job that never started, and `rnnmem.reporting.records` reads it.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np

from rnnmem.rundir.atomic import write_atomically
from rnnmem.rundir.paths import RunDir

STATUSES = ("finished", "diverged", "failed", "preempted")
COMPLETE = ("finished", "diverged")
Status = Literal["finished", "diverged", "failed", "preempted"]
# what the model trains with, beside the config (`rnnmem.budget.sizing`, the cell's lr, and
# `param_groups`: the lr and weight decay of each parameter role, the cell's defaults applied,
# `rnnmem.models.param_groups`)
TRAINED_WITH = ("hidden_size", "n_params", "state_size", "state_elements", "lr", "param_groups")


class RunRecord(TypedDict, total=False):
    """`record.json` of one run. Every record has `status`, `solved` and `name`; a run that
    never started (its values failed validation) has `error` and, where its config composed,
    `config` and `config_hash`, or else the sweep's `overrides`. What a run adds, by phase:

    at start (`rnnmem.training.lifecycle.opening_record`): the resolved config and its hash,
    the task's memoryless baseline (and `baselines`, each named for what it ignores), the code
    (`version`, `git_commit`, `source_digest`), `torch_threads`, `environment`, `started_at`,
    what the model trains with (`hidden_size`, `n_params`, `state_size` (N, null for cells
    without one), `state_elements` (recurrent state elements per layer), `lr`, and
    `param_groups`: {role: {lr, weight_decay}}) and the W&B run id;
    when it ended (`rnnmem.training.lifecycle.tested`): the test metrics (`test_loss` and the
    task's, e.g. `test_mse`, `test_acc`, `test_exact`, `test_seq_acc`), `memory_span` and
    `forgetting`, item memory's end views (`item_memory`, and per view `<view>_span`,
    `<view>_capacity` with their interval, fraction and values at init); (`how_it_trained`)
    `train_steps`, timings, `device`, `steps_per_batch`, `weights_sha256`, `precision`,
    `determinism`, and `resumed_from_step` where it resumed; or, stopped by a signal (`fit`),
    `train_steps`, `signal` and `checkpoint`;
    at the end (`rnnmem.training.lifecycle.write_outcome`): `curves`, `probe`
    (`GradientProbe.record_section`), `wall_seconds`, `finished_at`, and any `error` or
    `wandb_error`.

    """

    status: Status
    solved: bool
    name: str
    error: str
    overrides: list[str]
    config: dict[str, Any]
    config_hash: str
    baseline: float
    baselines: dict[str, float]
    version: str
    git_commit: str | None
    source_digest: str
    torch_threads: int
    environment: dict[str, str | None]
    started_at: float
    hidden_size: int
    n_params: int
    state_size: int | None
    state_elements: int
    lr: float
    param_groups: dict[str, dict[str, float]]
    wandb_run_id: str
    wandb_fallback: str
    test_loss: float
    test_mse: float
    test_acc: float
    test_exact: float
    test_seq_acc: float
    memory_span: float
    forgetting: dict[str, Any]
    item_memory: dict[str, Any]
    item_view: str
    probe_view: str
    # item memory's end views (`rnnmem.measures.item_memory.record_section`): intervention for a
    # task of value items, choice for one of symbol items, and storage for both
    intervention_span: float
    intervention_span_is_bound: bool
    intervention_span_init: float
    intervention_capacity: float
    intervention_capacity_low: float
    intervention_capacity_high: float
    intervention_capacity_fraction: float
    intervention_capacity_init: float
    choice_span: float
    choice_span_is_bound: bool
    choice_span_init: float
    choice_capacity: float
    choice_capacity_low: float
    choice_capacity_high: float
    choice_capacity_fraction: float
    choice_capacity_init: float
    storage_span: float
    storage_span_is_bound: bool
    storage_span_init: float
    storage_capacity: float
    storage_capacity_low: float
    storage_capacity_high: float
    storage_capacity_fraction: float
    storage_capacity_init: float
    train_steps: int
    train_seconds: float
    train_steps_per_sec: float
    fit_seconds: float
    device: str
    steps_per_batch: int
    weights_sha256: str
    precision: dict[str, Any]
    determinism: dict[str, Any]
    resumed_from_step: int
    signal: str
    checkpoint: str
    curves: dict[str, list[dict[str, float]]]
    probe: dict[str, Any]
    wall_seconds: float
    finished_at: float
    wandb_error: str


def write_record(run_dir: Path, record: RunRecord | Mapping[str, Any]) -> None:
    """Write `record.json` atomically; `status` must be one of STATUSES."""
    if record["status"] not in STATUSES:
        raise ValueError(f"status={record['status']!r} is not one of: {', '.join(STATUSES)}")
    text = json.dumps(record, indent=1, sort_keys=True, allow_nan=True)
    write_atomically(RunDir(run_dir).record, lambda f: f.write(text))


def write_probe_arrays(run_dir: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write the gradient probe's arrays to `probe.npz` atomically."""
    write_atomically(RunDir(run_dir).probe, lambda f: np.savez(f, **arrays), binary=True)


class CorruptRecord(ValueError):
    """A `record.json` that is not a JSON object with a status; the message names the file."""


def read_record(run_dir: Path) -> RunRecord:
    """The parsed `record.json` of a run; FileNotFoundError if the run never completed,
    CorruptRecord (naming the file) if it is truncated or otherwise unreadable, or if it says
    the run started without stating the config it ran (only a run refused before it started,
    `failed`, may lack one)."""
    path = RunDir(run_dir).record
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptRecord(f"corrupt run record {path}: {err}") from None
    if not isinstance(record, dict) or record.get("status") not in STATUSES:
        raise CorruptRecord(f"corrupt run record {path}: no valid status")
    if record["status"] != "failed" and not isinstance(record.get("config"), dict):
        raise CorruptRecord(f"corrupt run record {path}: a {record['status']} record without "
                            "its config")
    return record


class CorruptProbe(ValueError):
    """A `probe.npz` that cannot be read back whole; the message names the file."""


def read_probe_arrays(run_dir: Path) -> dict[str, np.ndarray]:
    """The arrays of `probe.npz` ({} if the run has none), every one read in full (the zip's
    checksums verified); CorruptProbe, naming the file, if it is truncated or damaged."""
    path = RunDir(run_dir).probe
    if not path.exists():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as err:
        if isinstance(err, OSError) and not path.exists():
            return {}
        reason = " ".join(f"{type(err).__name__}: {err}".split())
        raise CorruptProbe(f"corrupt probe arrays {path}: {reason}") from None


def probe_problem(run_dir: Path, record: Mapping[str, Any]) -> str | None:
    """Why the probe arrays that `record` says its run wrote (its `probe` section lists the
    probes' steps) cannot be read back, one line; None when they can or none were written."""
    path = RunDir(run_dir).probe
    if not path.exists():
        written = bool((record.get("probe") or {}).get("steps"))
        return f"missing probe arrays {path}" if written else None
    try:
        read_probe_arrays(run_dir)
    except CorruptProbe as err:
        return str(err)
    return None
