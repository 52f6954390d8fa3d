"""One run's device, precision and determinism: what Lightning trains on and how.

Device. `trainer.accelerator` (auto, cpu, gpu, cuda) is checked against what torch sees
(`check_accelerator`); a sweep's placed GPU becomes Lightning's `devices` (`trainer_devices`;
the placement itself is `rnnmem.sweeps.placement`'s).

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

import os
from collections.abc import MutableMapping
from typing import Any

import torch

from rnnmem.models import CELLS

MIN_BF16_CAPABILITY = (8, 0)
CUBLAS_WORKSPACE = ":4096:8"  # cuBLAS's deterministic workspace setting (CUDA >= 10.2)


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
