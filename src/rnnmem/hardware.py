"""What this machine offers a run or a sweep: its CPU cores and its GPUs.

    cores()          the CPU cores this process may run on (its affinity mask)
    visible_gpus()   the GPUs a sweep may use, as CUDA_VISIBLE_DEVICES entries: CUDA_VISIBLE_DEVICES
                     where it is set (inside a SLURM allocation SLURM sets it to the allocation's
                     GPUs), else SLURM_STEP_GPUS or SLURM_JOB_GPUS, else every GPU torch counts
    sweep_jobs()     the parallel jobs of a local sweep: `jobs_per_gpu` per visible GPU when the
                     jobs train on GPUs (never more than the cores), one per core otherwise

Nothing here places a job (`rnnmem.sweeps.placement`) or sets a thread count
(`rnnmem.training.lifecycle.threads_for_job`); `sweep_jobs` is the `${sweep_jobs:..}` resolver of
conf/hydra/launcher/local.yaml (`rnnmem.config.register_config`).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

import torch

GPU_LIST_VARIABLE = "RNNMEM_SWEEP_GPUS"  # the GPUs the sweep saw, before any job narrowed them
# where SLURM lists a job's GPUs, step first (physical indices: CUDA's own numbering where SLURM
# does not confine devices; where it does, it also sets CUDA_VISIBLE_DEVICES, which wins)
SLURM_GPU_VARIABLES = ("SLURM_STEP_GPUS", "SLURM_JOB_GPUS")


def cores() -> int:
    """The CPU cores this process may run on (at least 1)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return count or 1


def cuda_built() -> bool:
    """Whether this torch can use CUDA at all (a CPU build cannot, whatever the environment
    lists); asks no driver, so CUDA_VISIBLE_DEVICES can still be set after it."""
    return torch.backends.cuda.is_built()


def _device_list(listed: str) -> list[str]:
    """A CUDA_VISIBLE_DEVICES-style list; CUDA stops at the first entry that is not a device:
    "-1" or "" hides them all."""
    gpus = [gpu.strip() for gpu in listed.split(",") if gpu.strip()]
    return gpus[: next((i for i, gpu in enumerate(gpus) if gpu.startswith("-")), len(gpus))]


def visible_gpus(env: MutableMapping[str, str] = os.environ) -> list[str]:
    """The GPUs this sweep may use, as CUDA_VISIBLE_DEVICES entries (indices or UUIDs):
    CUDA_VISIBLE_DEVICES, else SLURM's lists, else every GPU torch counts.

    The first call in a process tree records them in RNNMEM_SWEEP_GPUS, which job processes
    inherit, so that a worker that narrowed CUDA_VISIBLE_DEVICES still knows the sweep's set."""
    if GPU_LIST_VARIABLE in env:
        recorded = env[GPU_LIST_VARIABLE]
        return recorded.split(",") if recorded else []
    if "CUDA_VISIBLE_DEVICES" in env:
        gpus = _device_list(env["CUDA_VISIBLE_DEVICES"])
    elif any(name in env for name in SLURM_GPU_VARIABLES):
        gpus = _device_list(env[next(name for name in SLURM_GPU_VARIABLES if name in env)])
    else:
        gpus = [str(i) for i in range(torch.cuda.device_count())]
    env[GPU_LIST_VARIABLE] = ",".join(gpus)
    return gpus


def sweep_jobs(jobs_per_gpu: int, accelerator: str) -> int:
    """Parallel jobs of a local sweep (joblib's n_jobs): `jobs_per_gpu` per visible GPU when the
    jobs train on GPUs, never more than the CPU cores (each job's host thread launches its
    kernels); -1 (one per core) when they train on the CPU."""
    if accelerator == "cpu" or not cuda_built():
        return -1
    gpus = len(visible_gpus())
    if gpus == 0:
        return -1
    return max(1, min(jobs_per_gpu * gpus, cores()))

