"""Shared fixtures: configs composed from conf/ exactly as the entry point composes them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from rnnmem.config import register_config
from rnnmem.training.preemption import STOP

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SCRIPTS = ROOT / "tests" / "scripts"  # gates.py: Hydra callbacks that make a run wait for its test


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


def gated_env(**extra: str) -> dict[str, str]:
    """The environment of a run that a test starts with a gate: tests/scripts first on
    PYTHONPATH, so that the run, its sweep's workers and its SLURM jobs import `gates`."""
    path = os.pathsep.join(filter(None, (str(SCRIPTS), os.environ.get("PYTHONPATH"))))
    return dict(os.environ, PYTHONWARNINGS="ignore", PYTHONPATH=path, **extra)


def gate(name: str, directory: Path, **params: object) -> tuple[str, ...]:
    """The overrides that add the Hydra callback `gates.<name>` (tests/scripts/gates.py), with
    its markers in `directory`, to a run started with `gated_env()`."""
    return (f"+hydra.callbacks.gate._target_=gates.{name}",
            f"+hydra.callbacks.gate.dir={directory}",
            *(f"+hydra.callbacks.gate.{key}={value}" for key, value in params.items()))


def paused_steps(directory: Path) -> dict[str, int]:
    """The markers of `gates.PauseAfterFirstCheckpoint`: run directory name -> paused step."""
    return {p.name: int(p.read_text()) for p in sorted(directory.glob("[!.]*"))}


def wait_until(condition: Callable[[], bool], what: str, proc: subprocess.Popen | None = None,
               timeout: float = 300) -> None:
    """Poll `condition` (an event: a file, a line, a process gone) until it holds; `proc` must
    not end before it. The timeout only guards against a hang; no test acts on it."""
    deadline = time.time() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended before {what}: {proc.communicate()}")
        assert time.time() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.05)


@pytest.fixture
def gate_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty directory for a gate's markers, outside the test's run directories."""
    return tmp_path_factory.mktemp("gate")


@pytest.fixture
def stop_signal_reset():
    """The process-wide stop flag, cleared after a test that signals this very process."""
    yield STOP
    STOP.received = None
    STOP.restore()


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A real 192 KiB tmpfs (root only); skipped, saying why, where mounting is not allowed."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs",
                             str(mount_point)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


@pytest.fixture
def read_only(tmp_path):
    """A directory made read-only by a real bind mount (root only); skipped, saying why, where
    mounting is refused. Fill it before remounting through `make_read_only`."""
    where = tmp_path / "ro"
    where.mkdir()
    mounted = []

    def make_read_only() -> Path:
        for command in (["mount", "--bind", str(where), str(where)],
                        ["mount", "-o", "remount,ro,bind", str(where)]):
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                pytest.skip(f"cannot bind-mount read-only here: {result.stderr.strip()}")
            mounted.append(where)
        return where

    yield where, make_read_only
    if mounted:
        subprocess.run(["umount", str(where)], check=True)
