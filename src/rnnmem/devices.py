"""Which device a job trains on, and in which precision.

Placement. A sweep on a GPU box runs `jobs_per_gpu` jobs per visible GPU at once
(`sweep_jobs`), and job i of the sweep trains on GPU i mod G of the G GPUs the sweep saw
(`gpu_for_job`): round robin, so that the jobs running together are spread evenly. The job's
process narrows CUDA to that GPU through CUDA_VISIBLE_DEVICES before CUDA initialises
(`place_job`); the chosen GPU is listed first, so that it is `cuda:0` of the process. A worker
process that already initialised CUDA for an earlier job (joblib reuses its workers) cannot
change its visible set: the job then picks its GPU by index among the ones the process sees,
which is why the others stay listed after the chosen one. On SLURM each job is allocated its own
GPU and SLURM sets CUDA_VISIBLE_DEVICES: a job then sees one GPU and takes it. Without a GPU,
nothing changes.

Precision. `trainer.tf32` sets both TF32 switches of torch (matmuls and cuDNN, which includes
the fused RNN kernels); off by default, so that the network that trains computes the same
float32 function the probe differentiates. bf16 autocast is refused on a CUDA device where the
fused bf16 RNN kernels cannot run: compute capability below 8.0 (no bf16 arithmetic before
Ampere) or cuDNN below 8.0 (the first with the bf16 RNN API).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping, Sequence

import torch

GPU_LIST_VARIABLE = "RNNMEM_SWEEP_GPUS"  # the GPUs the sweep saw, before any job narrowed them
MIN_BF16_CAPABILITY = (8, 0)
MIN_BF16_CUDNN = 8000  # torch.backends.cudnn.version() of cuDNN 8.0.0


def cuda_built() -> bool:
    """Whether this torch can use CUDA at all (a CPU build cannot, whatever the environment
    lists); asks no driver, so CUDA_VISIBLE_DEVICES can still be set after it."""
    return torch.backends.cuda.is_built()


def visible_gpus(env: MutableMapping[str, str] = os.environ) -> list[str]:
    """The GPUs this sweep may use, as CUDA_VISIBLE_DEVICES entries (indices or UUIDs).

    The first call in a process tree records them in RNNMEM_SWEEP_GPUS, which job processes
    inherit, so that a job that narrowed CUDA_VISIBLE_DEVICES does not hide GPUs from the next
    job of the same worker."""
    if GPU_LIST_VARIABLE in env:
        recorded = env[GPU_LIST_VARIABLE]
        return recorded.split(",") if recorded else []
    if "CUDA_VISIBLE_DEVICES" in env:
        listed = env["CUDA_VISIBLE_DEVICES"].strip()
        gpus = [gpu.strip() for gpu in listed.split(",") if gpu.strip()] if listed else []
        # CUDA stops at the first entry that is not a device: "-1" or "" hides them all
        gpus = gpus[: next((i for i, gpu in enumerate(gpus) if gpu.startswith("-")), len(gpus))]
    else:
        gpus = [str(i) for i in range(torch.cuda.device_count())]
    env[GPU_LIST_VARIABLE] = ",".join(gpus)
    return gpus


def gpu_for_job(job_index: int, gpus: Sequence[str]) -> str:
    """Round robin: job i of the sweep on GPU i mod G."""
    if not gpus:
        raise ValueError("no GPU to place a job on")
    return gpus[job_index % len(gpus)]


def place_job(
    job_index: int, env: MutableMapping[str, str] = os.environ,
    cuda_initialised: bool | None = None,
) -> int | None:
    """Put job `job_index` on its GPU; returns the CUDA device index for the Trainer, or None
    where the device is not ours to choose (no GPU, or a SLURM job, whose GPU SLURM allocated).

    Call it before anything asks CUDA for its devices (`torch.cuda.is_available()` initialises
    the driver, which reads CUDA_VISIBLE_DEVICES once). Before CUDA initialises in this process,
    CUDA_VISIBLE_DEVICES becomes the chosen GPU followed by the others (the job uses device 0).
    Afterwards the visible set is fixed, and the chosen GPU is found in it."""
    if "SLURM_JOB_ID" in env:
        return None
    gpus = visible_gpus(env)
    if not gpus:
        return None
    chosen = gpu_for_job(job_index, gpus)
    if cuda_initialised is None:
        cuda_initialised = torch.cuda.is_initialized()
    if not cuda_initialised:
        env["CUDA_VISIBLE_DEVICES"] = ",".join([chosen, *(g for g in gpus if g != chosen)])
        return 0
    seen = [gpu.strip() for gpu in env.get("CUDA_VISIBLE_DEVICES", ",".join(gpus)).split(",")]
    return seen.index(chosen) if chosen in seen else 0


def sweep_jobs(jobs_per_gpu: int, accelerator: str) -> int:
    """Parallel jobs of a local sweep (joblib's n_jobs): `jobs_per_gpu` per visible GPU when the
    jobs train on GPUs, never more than the CPU cores (each job's host thread launches its
    kernels); -1 (one per core) when they train on the CPU."""
    if accelerator == "cpu" or not cuda_built():
        return -1
    gpus = len(visible_gpus())
    if gpus == 0:
        return -1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(jobs_per_gpu * gpus, cores or 1))


def trainer_devices(gpu_index: int | None) -> int | list[int]:
    """Lightning's `devices`: the placed GPU where the run trains on CUDA, else one device."""
    if gpu_index is None or not torch.cuda.is_available():
        return 1
    return [gpu_index]


def set_tf32(enabled: bool) -> None:
    """TF32 for float32 matmuls and cuDNN (convolutions and the fused RNN kernels), or neither."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def tf32_flags() -> dict[str, bool]:
    """The TF32 switches as torch holds them now (recorded with the run).

    Read here and not in `rnnmem.train`: that module is `__main__` under `python -m`, and
    joblib's cloudpickle then pickles its functions with every submodule they touch, which
    `torch.backends.cudnn` (a module-like object) does not survive."""
    return {"tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32}


def bf16_refusal(
    capability: tuple[int, int] | None, cudnn_version: int | None
) -> str | None:
    """Why bf16 autocast cannot train a fused RNN on this CUDA device, or None where it can.

    `capability` is the device's compute capability, `cudnn_version` torch's cuDNN version number
    (None: no cuDNN)."""
    if capability is not None and tuple(capability) < MIN_BF16_CAPABILITY:
        major, minor = capability
        return (f"trainer.precision=bf16-mixed needs a GPU of compute capability >= 8.0 "
                f"(this one: {major}.{minor}); use trainer.precision=32-true")
    if cudnn_version is None or cudnn_version < MIN_BF16_CUDNN:
        return (f"trainer.precision=bf16-mixed needs cuDNN >= 8.0 for the fused RNN "
                f"(installed: {cudnn_version}); use trainer.precision=32-true")
    return None


def trains_on_cuda(accelerator: str) -> bool:
    """Whether Lightning's `accelerator` setting resolves to a CUDA device here."""
    return accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()


ACCELERATORS = ("auto", "cpu", "gpu", "cuda")


def check_accelerator(accelerator: str) -> str | None:
    """The one-line reason `accelerator` cannot train on this machine, or None: a GPU asked
    for where torch sees none, or a name outside ACCELERATORS."""
    if accelerator not in ACCELERATORS:
        return f"trainer.accelerator={accelerator!r} is not one of: {', '.join(ACCELERATORS)}"
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        return (f"trainer.accelerator={accelerator} but this machine has no usable CUDA GPU "
                "(torch.cuda.is_available() is False); use trainer.accelerator=cpu or auto")
    return None


def check_precision(precision: str, accelerator: str) -> str | None:
    """The one-line reason `precision` cannot train on `accelerator` here, or None. bf16
    autocast exists on every CPU; on CUDA see `bf16_refusal`."""
    if precision != "bf16-mixed" or not trains_on_cuda(accelerator):
        return None
    return bf16_refusal(torch.cuda.get_device_capability(), torch.backends.cudnn.version())
