"""What a run was computed with: the versions of the software stack and the device's name.

Stored in every run record (`environment`), so that a figure can be traced to the exact stack
that made it; `make install` installs the stack from the lock file (`requirements.lock`).
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

import torch

PACKAGES = ("pytorch-lightning", "hydra-core", "wandb", "datasets", "numpy")


def package_version(name: str) -> str | None:
    """The installed distribution's version, or None where it is not installed."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def device_name(device: torch.device) -> str:
    """The GPU's marketing name on CUDA; the CPU's model name (from /proc/cpuinfo where there is
    one) otherwise."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict[str, str | None]:
    """Versions of Python, torch (its CUDA and cuDNN builds, None where absent), Lightning,
    Hydra, wandb, datasets and numpy, and the name of `device`."""
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": None if cudnn is None else str(cudnn),
        **{name: package_version(name) for name in PACKAGES},
        "device": str(device),
        "device_name": device_name(device),
    }
