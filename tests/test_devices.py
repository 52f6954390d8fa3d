"""Placement of sweep jobs on GPUs (fake device lists, no GPU needed), precision switches."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from hydra import compose, initialize_config_dir

from conftest import CONF, compose_config
from rnnmem import devices


@pytest.mark.parametrize("jobs,gpus", [(1, 1), (8, 2), (10, 4), (3, 8), (540, 8)])
def test_round_robin_spreads_jobs_evenly(jobs, gpus):
    names = [str(i) for i in range(gpus)]
    placed = [devices.gpu_for_job(i, names) for i in range(jobs)]
    counts = Counter(placed)
    assert max(counts.values()) - min(counts.values(), default=0) <= 1
    assert set(counts) == set(names[:min(jobs, gpus)])
    # any window of G consecutive jobs (those started together) covers every GPU once
    for start in range(0, max(jobs - gpus, 0) + 1):
        assert sorted(placed[start:start + gpus]) == sorted(names[:min(jobs, gpus)])


def test_job_in_fresh_process_sees_its_gpu_first():
    env = {"CUDA_VISIBLE_DEVICES": "3,5,7"}
    assert devices.place_job(4, env, cuda_initialised=False) == 0
    assert env["CUDA_VISIBLE_DEVICES"] == "5,3,7"  # job 4 -> GPU 4 mod 3 = the second
    assert env[devices.GPU_LIST_VARIABLE] == "3,5,7"


def test_reused_worker_keeps_its_gpus_and_finds_the_next_jobs_gpu():
    env = {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    assert devices.place_job(2, env, cuda_initialised=False) == 0
    assert env["CUDA_VISIBLE_DEVICES"] == "2,0,1,3"
    # the worker's CUDA is now initialised with that order; its next job is job 5 -> GPU 1
    assert devices.place_job(5, env, cuda_initialised=True) == 2
    assert env["CUDA_VISIBLE_DEVICES"] == "2,0,1,3"
    # a fresh job in the same worker lineage still sees all four GPUs
    assert devices.place_job(7, env, cuda_initialised=False) == 0
    assert env["CUDA_VISIBLE_DEVICES"] == "3,0,1,2"


@pytest.mark.parametrize("listed,expected", [("", []), ("-1", []), ("0,-1,2", ["0"]),
                                             ("GPU-aa, GPU-bb", ["GPU-aa", "GPU-bb"])])
def test_visible_gpus_read_cuda_visible_devices_as_cuda_does(listed, expected):
    assert devices.visible_gpus({"CUDA_VISIBLE_DEVICES": listed}) == expected


def test_no_gpu_and_slurm_leave_the_device_alone():
    env = {"CUDA_VISIBLE_DEVICES": ""}
    assert devices.place_job(3, env, cuda_initialised=False) is None
    assert env["CUDA_VISIBLE_DEVICES"] == ""
    slurm = {"CUDA_VISIBLE_DEVICES": "1", "SLURM_JOB_ID": "42"}
    assert devices.place_job(3, slurm, cuda_initialised=False) is None
    assert slurm == {"CUDA_VISIBLE_DEVICES": "1", "SLURM_JOB_ID": "42"}


@pytest.mark.parametrize("gpus,per_gpu,cores,accelerator,expected",
                         [("0,1", 4, 16, "auto", 8), ("0", 4, 16, "gpu", 4), ("0", 8, 2, "auto", 2),
                          ("", 4, 16, "auto", -1), ("0,1", 4, 16, "cpu", -1)])
def test_sweep_jobs_per_gpu(monkeypatch, gpus, per_gpu, cores, accelerator, expected):
    monkeypatch.setattr(devices, "cuda_built", lambda: True)
    monkeypatch.setenv(devices.GPU_LIST_VARIABLE, gpus)
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert devices.sweep_jobs(per_gpu, accelerator) == expected


def test_local_launcher_takes_its_job_count_from_jobs_per_gpu(monkeypatch):
    monkeypatch.setattr(devices, "cuda_built", lambda: True)
    monkeypatch.setenv(devices.GPU_LIST_VARIABLE, "0,1,2")
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: set(range(64)))
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=local", "jobs_per_gpu=2"],
                      return_hydra_config=True)
    assert cfg.hydra.launcher.n_jobs == 6
    assert compose_config().jobs_per_gpu == 4


@pytest.mark.parametrize("capability,cudnn,refused", [((9, 0), 90100, None),
                                                      ((8, 0), 8000, None),
                                                      ((7, 5), 90100, "7.5"),
                                                      ((9, 0), 7605, "7605"),
                                                      ((9, 0), None, "None")])
def test_bf16_refused_where_cudnn_cannot_run_it(capability, cudnn, refused):
    reason = devices.bf16_refusal(capability, cudnn)
    if refused is None:
        assert reason is None
    else:
        assert "trainer.precision=bf16-mixed" in reason and refused in reason
        assert "\n" not in reason and "32-true" in reason


def test_a_cpu_build_of_torch_ignores_listed_gpus(monkeypatch):
    monkeypatch.setenv(devices.GPU_LIST_VARIABLE, "0,1")
    monkeypatch.setattr(devices, "cuda_built", lambda: False)
    assert devices.sweep_jobs(4, "auto") == -1
    assert devices.trainer_devices(None) == 1
    if not torch.cuda.is_available():
        assert devices.trainer_devices(0) == 1


def test_bf16_on_the_cpu_is_allowed():
    assert devices.check_precision("bf16-mixed", "cpu") is None
    assert devices.check_precision("32-true", "auto") is None


def test_tf32_switches_both_flags():
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        devices.set_tf32(True)
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        devices.set_tf32(False)
        assert not torch.backends.cuda.matmul.allow_tf32
        assert not torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
