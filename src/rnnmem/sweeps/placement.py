"""Which GPU each worker process of a local sweep trains on: the least-loaded one.

A local sweep (Hydra's joblib launcher) runs `jobs_per_gpu` jobs per visible GPU at once
(`rnnmem.hardware.sweep_jobs`; the GPUs are `rnnmem.hardware.visible_gpus`). Each worker process
takes the least-loaded of them from a lock-file ledger in the sweep directory
(`rnnmem.sweeps.ledger`) when its first job starts, before anything in the process calls CUDA,
and narrows CUDA_VISIBLE_DEVICES to that one GPU (`Placement.place`). The process keeps that GPU
and its slot for its life: a loky worker reused for later jobs trains all of them there and
never creates a CUDA context on another GPU, and the ledger counts the processes that hold a
context on each GPU, so W workers on G GPUs sit ceil(W / G) or floor(W / G) to a GPU. The slot
is released when the process exits, however it exits. With submitit (SLURM) each job is its own
allocation and SLURM sets its GPU: rnnmem leaves it alone, as it does a single run and a process
that sees one GPU only (nothing to choose). Without a GPU, nothing changes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from pathlib import Path

import torch

from rnnmem.hardware import cuda_built, visible_gpus
from rnnmem.sweeps.ledger import GpuLedger, Slot, ledger_dir

log = logging.getLogger("rnnmem")


def submitit_launched(launcher_target: str) -> bool:
    """Whether a sweep's launcher (its `_target_`) is a submitit one, Hydra's or rnnmem's
    (`hydra_plugins.rnnmem_launcher.Submitit*`): each job is a process of its own."""
    return "submitit" in launcher_target.lower()


def places_own_gpu(launcher_target: str) -> bool:
    """Whether a sweep's launcher leaves GPU placement to rnnmem: joblib (and Hydra's basic,
    sequential launcher) run many jobs on this machine's GPUs; submitit runs each job in its
    own SLURM allocation, whose GPU SLURM chose."""
    return not submitit_launched(launcher_target)


class Placement:
    """This process's GPU: chosen once, from the ledger, and held for the process's life."""

    def __init__(self) -> None:
        self.slot: Slot | None = None

    def place(self, sweep_dir: Path, env: MutableMapping[str, str] = os.environ,
              cuda_initialised: bool | None = None) -> int | None:
        """Put this process on the least-loaded GPU of the sweep at `sweep_dir`; returns the
        CUDA device index for the Trainer, or None where there is nothing to choose (no CUDA
        build, one GPU or none).

        The first call in a process takes a slot (`GpuLedger.take`) and, before CUDA
        initialises, narrows CUDA_VISIBLE_DEVICES to the chosen GPU (device 0 of the process);
        later calls return the same device. Were CUDA already initialised (it reads
        CUDA_VISIBLE_DEVICES once), the chosen GPU's index among the visible ones is returned
        instead, and a warning says the process may hold contexts elsewhere."""
        gpus = visible_gpus(env)
        if not cuda_built() or len(gpus) < 2:
            return None
        if cuda_initialised is None:
            cuda_initialised = torch.cuda.is_initialized()
        if self.slot is None:
            self.slot = GpuLedger(ledger_dir(sweep_dir), gpus).take()
            if cuda_initialised:
                log.warning("CUDA was initialised before placement: GPU %s is chosen among "
                            "all visible ones", self.slot.gpu)
            else:
                env["CUDA_VISIBLE_DEVICES"] = self.slot.gpu
        if env.get("CUDA_VISIBLE_DEVICES") == self.slot.gpu:
            return 0
        return gpus.index(self.slot.gpu)


PLACEMENT = Placement()  # this process's

