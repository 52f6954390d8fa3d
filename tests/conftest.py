"""Shared fixtures: configs composed from conf/ exactly as the entry point composes them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from rnnmem.config import register_config
from rnnmem.preemption import STOP

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


@pytest.fixture(scope="session", autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Held-out sets cached once per test session; W&B offline and never prompting; the
    config's schema and resolvers registered, as the entry point registers them."""
    register_config()
    os.environ["RNNMEM_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    os.environ.pop("WANDB_API_KEY", None)


def compose_config(*overrides: str) -> DictConfig:
    """The resolved-able config of `python -m rnnmem.train <overrides>`."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m rnnmem.train <args>` in a fresh process."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", HYDRA_FULL_ERROR="0")
    return subprocess.run(
        [sys.executable, "-m", "rnnmem.train", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture
def stop_signal_reset():
    """The process-wide stop flag, cleared after a test that signals this very process."""
    yield STOP
    STOP.received = None
    STOP.restore()
