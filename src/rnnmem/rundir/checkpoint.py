"""What a run directory's checkpoint holds, read back: the step to resume from, the device kind it
was written on, and the stamp of the config and code it belongs to.

`rnnmem.training.preemption.Checkpointer` writes `checkpoint.ckpt` (Lightning's checkpoint, with
the module's `DEVICE_TYPE_KEY` and the checkpointer's `STAMP_KEY` entries); this module reads it:
`resumable_checkpoint` for the run that resumes, `checkpoint_stamp` for the verdict on a run
directory (`rnnmem.rundir.verdict`) and the sweep's look at its directory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rnnmem.rundir.paths import RunDir

log = logging.getLogger("rnnmem")
DEVICE_TYPE_KEY = "rnnmem_device_type"  # in the checkpoint: the device kind it was written on
STAMP_KEY = "rnnmem"  # the checkpoint's stamp: config hash and code (`rnnmem.rundir.verdict`)


@dataclass(frozen=True)
class Resume:
    """A checkpoint to resume from: its step, and the device kind it was written on ("cpu",
    "cuda"; None for a checkpoint from before it was recorded)."""

    path: Path
    step: int
    device_type: str | None = None


def resumable_checkpoint(run_dir: Path) -> Resume | None:
    """`run_dir/checkpoint.ckpt` if there is one that loads; an unreadable one (a disk that
    failed under it) is renamed `*.corrupt`, with a warning, and the run starts afresh."""
    path = RunDir(run_dir).checkpoint
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        step = int(state["global_step"])
    except Exception as err:  # any unreadable file: start afresh rather than fail every retry
        path.rename(RunDir(run_dir).corrupt_checkpoint)
        log.warning("ignoring unreadable checkpoint %s (%s); training from step 0",
                    path, type(err).__name__)
        return None
    return Resume(path, step, state.get(DEVICE_TYPE_KEY))


def device_refusal(resume: Resume, device: torch.device) -> str | None:
    """One line refusing to resume `resume` on `device` when the checkpoint was written on
    another device kind: the batch generator's state is that kind's (a CPU generator's state
    cannot seed a CUDA one), and the two kinds draw different batches from one seed."""
    if resume.device_type is None or resume.device_type == device.type:
        return None
    return (f"{resume.path} was written on {resume.device_type} and this run trains on "
            f"{device.type}: a run resumes only on the device kind it started on (run it on "
            f"{resume.device_type}, or delete the checkpoint to start over)")


def checkpoint_stamp(path: Path) -> dict[str, Any] | None:
    """The stamp `Checkpointer` wrote into the checkpoint at `path` ({} for a checkpoint of
    a version without stamps); None where there is none, or none that loads."""
    if not Path(path).exists():
        return None
    try:
        return dict(torch.load(path, map_location="cpu", weights_only=False).get(STAMP_KEY, {}))
    except Exception:  # unreadable: resumable_checkpoint sets it aside
        return None
