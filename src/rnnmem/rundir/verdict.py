"""A run directory belongs to one config, and says which code made what it holds.

Before a run trains, `verdict` reads what its directory already holds, `record.json` and the
checkpoint's stamp (`Checkpointer` writes `{config_hash, config, git_commit, source_digest}`
into every checkpoint), and decides:

- either states another `config_hash` than the run's: RunDirConflict, one line naming the
  keys that differ; nothing in the directory is touched (an explicit `hydra.run.dir` given to
  two configs);
- a finished or diverged record: skip, if the same code made it (`rnnmem.rundir.code`), unless
  the probe arrays it says it wrote cannot be read back (`probe_problem`: a truncated
  `probe.npz`), which makes it incomplete: train again;
- a record or checkpoint of other code: `on_code_change` says what happens: `error`
  (CodeChanged, one line naming the option), `rerun` (the checkpoint is removed and the run
  trains from step 0) or `keep` (skip the record, resume from the checkpoint);
- otherwise train (resuming from the checkpoint where there is one).

A record without a `config_hash` (a job whose values failed validation) and an unreadable checkpoint
(set aside later by `rnnmem.training.preemption.resumable_checkpoint`) belong to no config.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from rnnmem.rundir.checkpoint import checkpoint_stamp
from rnnmem.rundir.code import code_identity, describe, other_code
from rnnmem.rundir.identity import config_differences, identity_config
from rnnmem.rundir.paths import RunDir
from rnnmem.rundir.record import COMPLETE, CorruptRecord, probe_problem, read_record

log = logging.getLogger("rnnmem")


class RunDirConflict(RuntimeError):
    """The run directory holds another config's record or checkpoint (one line)."""


class CodeChanged(RuntimeError):
    """The run directory holds a record or checkpoint of other code (one line)."""


@dataclass(frozen=True)
class Verdict:
    skip: bool  # leave the directory as it is
    reason: str


def _other_config(run_dir: Path, what: str, stated: dict[str, Any], config_hash: str,
                  identity: dict[str, Any]) -> None:
    if stated.get("config_hash") in (None, config_hash):
        return
    keys = config_differences(identity_config(OmegaConf.create(stated.get("config") or {})),
                              identity)
    raise RunDirConflict(
        f"{run_dir} holds the {what} of another config (differs in {', '.join(keys) or '?'}); "
        "it is left untouched: give this run its own hydra.run.dir")


def verdict(run_dir: Path, config_hash: str, identity: dict[str, Any],
            on_code_change: str) -> Verdict:
    """What to do with `run_dir` for the run of `config_hash`; raises RunDirConflict or
    CodeChanged (module docstring)."""
    run_dir = Path(run_dir)
    try:
        record: dict[str, Any] | None = read_record(run_dir)
    except (FileNotFoundError, CorruptRecord):
        record = None
    stamp = checkpoint_stamp(RunDir(run_dir).checkpoint)
    if record is not None:
        _other_config(run_dir, f"{record['status']} record", record, config_hash, identity)
    if stamp is not None:
        _other_config(run_dir, "checkpoint", stamp, config_hash, identity)
    complete = record is not None and record["status"] in COMPLETE
    damage = probe_problem(run_dir, record) if complete else None
    if damage is not None:
        log.warning("%s holds a %s record whose files are damaged (%s): training again",
                    run_dir, record["status"], damage)
        complete = False
    held = record if complete else stamp
    if held is None:
        return Verdict(False, "train")
    what = f"{record['status']} record" if complete else "checkpoint"
    if not other_code(held):
        return Verdict(complete, f"{run_dir} already holds a complete record")
    change = f"{describe(held)}; now {describe(code_identity())}"
    if on_code_change == "error":
        raise CodeChanged(
            f"{run_dir} holds a {what} made by other code ({change}); set "
            "on_code_change=rerun to train again or on_code_change=keep to keep it")
    if on_code_change == "keep":
        return Verdict(complete, f"{run_dir} holds a {what} of other code ({change}), kept "
                       "(on_code_change=keep)")
    RunDir(run_dir).checkpoint.unlink(missing_ok=True)
    log.info("%s holds a %s of other code (%s): training again (on_code_change=rerun)",
             run_dir, what, change)
    return Verdict(False, "train")
