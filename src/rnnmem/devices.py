"""Which device a job trains on, in which precision, and how deterministically.

Placement. A local sweep (Hydra's joblib launcher) runs `jobs_per_gpu` jobs per visible GPU at
once (`sweep_jobs`). The GPUs are those the sweep's process may use (`visible_gpus`):
CUDA_VISIBLE_DEVICES where it is set (inside a SLURM allocation SLURM sets it to the
allocation's GPUs), else SLURM_STEP_GPUS or SLURM_JOB_GPUS, else every GPU torch counts. Each
worker process takes the least-loaded of them from a lock-file ledger in the sweep directory
(`rnnmem.gpu_ledger`) when its first job starts, before anything in the process calls CUDA,
and narrows CUDA_VISIBLE_DEVICES to that one GPU (`Placement.place`). The process keeps that GPU
and its slot for its life: a loky worker reused for later jobs trains all of them there and
never creates a CUDA context on another GPU, and the ledger counts the processes that hold a
context on each GPU, so W workers on G GPUs sit ceil(W / G) or floor(W / G) to a GPU. The slot
is released when the process exits, however it exits. With submitit (SLURM) each job is its own
allocation and SLURM sets its GPU: rnnmem leaves it alone, as it does a single run and a process
that sees one GPU only (nothing to choose). Without a GPU, nothing changes.

Precision. `trainer.tf32` sets both TF32 switches of torch (matmuls and cuDNN, which includes
the fused RNN kernels); off by default, so that the network that trains computes the same
float32 function the probe differentiates. `bf16-mixed` is refused on CUDA for a cell that
trains through cuDNN's fused RNN kernels (`fused_cudnn_cell`): PyTorch's autocast casts a cuDNN
RNN's input, weights and states to float16 whatever the autocast dtype
(aten/src/ATen/cudnn/AutocastRNN.cpp in PyTorch's source), and float16 without loss scaling
underflows the small long-lag gradients this project measures. For a cell without a fused
kernel it is refused below compute capability 8.0 (no bf16 arithmetic before Ampere).
`recurrent_dtype` states the dtype the recurrence actually computes in, which the run records.

Determinism. `trainer.deterministic` (default true) on CUDA: torch.use_deterministic_algorithms,
cuDNN's deterministic mode without its benchmark, and CUBLAS_WORKSPACE_CONFIG=:4096:8, which
cuBLAS reads when CUDA initialises: `deterministic_environment` sets it before any CUDA call
(in `rnnmem.train.main`, with the placement). On the CPU torch's kernels are deterministic
already; the flag changes nothing there.
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import torch

from rnnmem.gpu_ledger import GpuLedger, Slot, ledger_dir
from rnnmem.models import CELLS

log = logging.getLogger("rnnmem")
GPU_LIST_VARIABLE = "RNNMEM_SWEEP_GPUS"  # the GPUs the sweep saw, before any job narrowed them
# where SLURM lists a job's GPUs, step first (physical indices: CUDA's own numbering where SLURM
# does not confine devices; where it does, it also sets CUDA_VISIBLE_DEVICES, which wins)
SLURM_GPU_VARIABLES = ("SLURM_STEP_GPUS", "SLURM_JOB_GPUS")
MIN_BF16_CAPABILITY = (8, 0)
CUBLAS_WORKSPACE = ":4096:8"  # cuBLAS's deterministic workspace setting (CUDA >= 10.2)


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


def fused_cudnn_cell(cell: str) -> bool:
    """Whether `model.cell` trains through one of cuDNN's fused RNN kernels on CUDA: a cell of
    `rnnmem.models.CELLS` with a `fused` module (torch's nn.RNN, nn.LSTM, nn.GRU) does; one that
    trains through `UnfusedLayers`, a loop of matmuls (orth), does not. The one place that
    decides it."""
    return CELLS[cell].fused is not None


def bf16_refusal(cell: str, capability: tuple[int, int] | None) -> str | None:
    """Why `trainer.precision=bf16-mixed` cannot train `cell` on a CUDA device of compute
    capability `capability`, or None where it can: one line."""
    if fused_cudnn_cell(cell):
        return (f"trainer.precision=bf16-mixed is refused for model.cell={cell} on CUDA: "
                f"PyTorch's autocast runs cuDNN RNNs in float16, not bf16 "
                f"(aten/src/ATen/cudnn/AutocastRNN.cpp), without loss scaling; use "
                f"trainer.precision=32-true")
    if capability is not None and tuple(capability) < MIN_BF16_CAPABILITY:
        major, minor = capability
        return (f"trainer.precision=bf16-mixed needs a GPU of compute capability >= 8.0 "
                f"(this one: {major}.{minor}); use trainer.precision=32-true")
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


def cpu_bf16_refusal(cell: str, onednn_bf16: bool) -> str | None:
    """Why `bf16-mixed` cannot train `cell` on this CPU, or None: CPU autocast runs nn.LSTM
    through oneDNN's bf16 LSTM, which fails mid-training ("could not create a primitive
    descriptor") where oneDNN has no bf16 support on the CPU (`onednn_bf16`)."""
    if cell == "lstm" and not onednn_bf16:
        return (f"trainer.precision=bf16-mixed: this CPU has no bf16 support in oneDNN, "
                f"through which autocast runs model.cell={cell}; use trainer.precision=32-true")
    return None


def check_precision(precision: str, accelerator: str, cell: str) -> str | None:
    """The one-line reason `precision` cannot train `cell` on `accelerator` here, or None
    (`bf16_refusal` on CUDA, `cpu_bf16_refusal` on the CPU)."""
    if precision != "bf16-mixed":
        return None
    if trains_on_cuda(accelerator):
        return bf16_refusal(cell, torch.cuda.get_device_capability())
    return cpu_bf16_refusal(cell, torch.ops.mkldnn._is_mkldnn_bf16_supported())


def recurrent_dtype(net: torch.nn.Module, forward_context: Any, input_size: int,
                    device: torch.device) -> str:
    """The dtype the recurrence computes in under the training precision: the fused module's
    output for a two-step input, inside `forward_context` (the Trainer's precision plugin's
    `forward_context()`, what training steps run in). Under bf16-mixed on the CPU autocast
    runs nn.RNN in bfloat16 but nn.GRU in float32, for one."""
    x = torch.zeros(1, 2, input_size, device=device)
    with torch.no_grad(), forward_context:
        output, _ = net.rnn(x)
    return str(output.dtype).removeprefix("torch.")


def deterministic_environment(deterministic: bool,
                              env: MutableMapping[str, str] = os.environ) -> None:
    """CUBLAS_WORKSPACE_CONFIG for deterministic cuBLAS, set when `deterministic` and not set
    already; call before CUDA initialises (cuBLAS reads it then)."""
    if deterministic:
        env.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)


def set_determinism(deterministic: bool, device: torch.device) -> dict[str, Any]:
    """On CUDA: deterministic algorithms (an op without a deterministic kernel raises) and
    cuDNN's deterministic mode, benchmark off, when `deterministic`; torch's defaults when not.
    On the CPU nothing is switched. Returns the settings as torch holds them (recorded)."""
    if device.type == "cuda":
        deterministic_environment(deterministic)
        torch.use_deterministic_algorithms(deterministic)
        torch.backends.cudnn.deterministic = deterministic
        torch.backends.cudnn.benchmark = False
    return {"deterministic": deterministic,
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}
