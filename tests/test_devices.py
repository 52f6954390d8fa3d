"""Device switches: the visible GPUs as CUDA reads them, jobs per GPU, TF32 (no GPU needed).

Placement is in tests/test_placement.py, precision in tests/test_precision.py."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir

from conftest import CONF, compose_config
from rnnmem import hardware
from rnnmem.training import precision


@pytest.mark.parametrize("listed,expected", [("", []), ("-1", []), ("0,-1,2", ["0"]),
                                             ("GPU-aa, GPU-bb", ["GPU-aa", "GPU-bb"])])
def test_visible_gpus_read_cuda_visible_devices_as_cuda_does(listed, expected):
    assert hardware.visible_gpus({"CUDA_VISIBLE_DEVICES": listed}) == expected


@pytest.mark.parametrize("gpus,per_gpu,cores,accelerator,expected",
                         [("0,1", 4, 16, "auto", 8), ("0", 4, 16, "gpu", 4), ("0", 8, 2, "auto", 2),
                          ("", 4, 16, "auto", -1), ("0,1", 4, 16, "cpu", -1)])
def test_sweep_jobs_per_gpu(monkeypatch, gpus, per_gpu, cores, accelerator, expected):
    monkeypatch.setattr(hardware, "cuda_built", lambda: True)
    monkeypatch.setenv(hardware.GPU_LIST_VARIABLE, gpus)
    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert hardware.sweep_jobs(per_gpu, accelerator) == expected


def test_local_launcher_takes_its_job_count_from_jobs_per_gpu(monkeypatch):
    monkeypatch.setattr(hardware, "cuda_built", lambda: True)
    monkeypatch.setenv(hardware.GPU_LIST_VARIABLE, "0,1,2")
    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: set(range(64)))
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=local", "jobs_per_gpu=2"],
                      return_hydra_config=True)
    assert cfg.hydra.launcher.n_jobs == 6
    assert compose_config().jobs_per_gpu == 4


def test_a_cpu_build_of_torch_ignores_listed_gpus(monkeypatch):
    monkeypatch.setenv(hardware.GPU_LIST_VARIABLE, "0,1")
    monkeypatch.setattr(hardware, "cuda_built", lambda: False)
    assert hardware.sweep_jobs(4, "auto") == -1
    assert precision.trainer_devices(None) == 1
    if not torch.cuda.is_available():
        assert precision.trainer_devices(0) == 1




def test_tf32_switches_both_flags():
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        precision.set_tf32(True)
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        precision.set_tf32(False)
        assert not torch.backends.cuda.matmul.allow_tf32
        assert not torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
