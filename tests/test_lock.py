"""The lock file pins exactly the packages of the installed environment."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# what PyPI's CUDA build of torch pins itself: absent from a lock resolved on a CPU machine
CUDA_BUILD_COMPANIONS = re.compile(r"^(nvidia-.*|triton|cuda-.*)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: list[str]) -> dict[str, str]:
    """`name==version` lines as {canonical name: version without a build label}."""
    found = {}
    for line in lines:
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", line.strip())
        if match:
            found[canonical(match.group(1))] = match.group(2).split("+")[0]
    return found


def test_lock_pins_only_exact_versions():
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    requirements = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert requirements and all("==" in line for line in requirements)
    locked = pins(requirements)
    assert locked["torch"] == "2.13.0" and "+" not in (ROOT / "requirements.lock").read_text()
    for name in ("pytorch-lightning", "hydra-core", "wandb", "datasets", "numpy", "pandas"):
        assert name in locked


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not running in a virtual environment")
def test_lock_pins_every_package_pip_freeze_shows():
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    installed = pins(frozen)
    installed.pop("rnnmem", None)
    locked = pins((ROOT / "requirements.lock").read_text().splitlines())
    unlocked = {name: version for name, version in installed.items() if name not in locked
                and not (torch.version.cuda and CUDA_BUILD_COMPANIONS.match(name))}
    assert not unlocked, f"installed but not in requirements.lock: {unlocked} (run make lock)"
    differ = {name: (installed.get(name), version) for name, version in locked.items()
              if installed.get(name) != version}
    assert not differ, f"installed vs locked versions differ: {differ} (run make install)"
