"""Where a run computes: prediction and the forgetting pass on the training device, the device
recorded as where training ran, a checkpoint resumed only on its own device kind, and the run
hash free of how a sweep packs its jobs."""

from __future__ import annotations

import pytest
import torch

import rnnmem.training.lifecycle
from conftest import compose_config
from rnnmem.models import RecurrentNet
from rnnmem.rundir.checkpoint import DEVICE_TYPE_KEY, Resume, device_refusal
from rnnmem.rundir.identity import run_hash
from rnnmem.rundir.paths import RunDir
from rnnmem.rundir.record import read_record
from rnnmem.tasks import make_task
from rnnmem.train import train_one
from rnnmem.training.lifecycle import predict
from rnnmem.training.module import MemoryTaskModule

TINY = ("logger=none", "trainer.progress_bar=false", "data.val_size=64", "data.test_size=64",
        "model=gru", "model.hidden_size=8", "task.seq_len=6", "trainer.max_steps=10",
        "trainer.val_every_n_steps=10", "probe.enabled=false")


def test_jobs_per_gpu_and_launcher_settings_leave_the_run_hash_unchanged():
    base = run_hash(compose_config(*TINY))
    assert run_hash(compose_config(*TINY, "jobs_per_gpu=1")) == base
    assert run_hash(compose_config(*TINY, "jobs_per_gpu=8", "trainer.deterministic=false")) == base
    # the launcher's settings live in Hydra's node, which the hash never sees
    assert run_hash(compose_config(*TINY, "hydra/launcher=slurm")) == base
    assert run_hash(compose_config(*TINY, "trainer.tf32=true")) != base  # a real change


def test_prediction_runs_on_the_trainers_root_device(tmp_path, monkeypatch):
    """The forgetting pass computes on the device the trainer trained on (Lightning's teardown
    moves the module to the CPU after `trainer.test`), and the record names that device."""
    trainers, seen = [], []

    class Recording(rnnmem.training.lifecycle.pl.Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            trainers.append(self)

    def recording_predict(module, x, device):
        hook = module.net.register_forward_pre_hook(lambda net, args: seen.append(
            (args[0].device, next(net.parameters()).device)))
        try:
            return predict(module, x, device)
        finally:
            hook.remove()

    monkeypatch.setattr(rnnmem.training.lifecycle.pl, "Trainer", Recording)
    monkeypatch.setattr(rnnmem.training.lifecycle, "predict", recording_predict)
    record = train_one(compose_config(*TINY), tmp_path)
    root = trainers[0].strategy.root_device
    assert seen and all(pair == (root, root) for pair in seen)
    assert record["device"] == str(root) == record["environment"]["device"]


def test_predict_moves_the_module_back_to_the_training_device():
    task = make_task("adding", 6)
    torch.manual_seed(0)
    net = RecurrentNet("lstm", task.input_size, 8, depth=1, num_outputs=task.num_outputs,
                       per_step_output=task.per_step_output)
    module = MemoryTaskModule(task, net, batch_size=4, seed=0)
    x, _ = task.sample(2500, torch.Generator().manual_seed(0))
    moved = []
    module.to = lambda device: (moved.append(device), MemoryTaskModule.to(module, device))[1]
    out = predict(module, x, torch.device("cpu"))
    assert moved == [torch.device("cpu")] and not module.training
    with torch.no_grad():  # independent: the whole set in one pass
        assert torch.allclose(out, net(x), atol=1e-6, rtol=0)
    assert out.shape == (2500, 1) and out.dtype == torch.float32


def test_a_checkpoint_records_its_device_kind(tmp_path):
    task = make_task("adding", 6)
    module = MemoryTaskModule(task, RecurrentNet("gru", task.input_size, 4), 4, 0)
    module.generator = torch.Generator()
    checkpoint: dict = {}
    module.on_save_checkpoint(checkpoint)
    assert checkpoint[DEVICE_TYPE_KEY] == "cpu"


def test_device_refusal_compares_the_checkpoints_kind_with_the_trainers(tmp_path):
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert device_refusal(Resume(tmp_path, 10, "cpu"), cpu) is None
    assert device_refusal(Resume(tmp_path, 10, "cuda"), cuda) is None
    assert device_refusal(Resume(tmp_path, 10, None), cuda) is None  # written before the key
    assert device_refusal(Resume(tmp_path, 10, "cpu"), cuda).startswith(
        f"{tmp_path} was written on cpu and this run trains on cuda")


def test_a_cuda_checkpoint_is_refused_on_the_cpu_and_kept(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("fakes a CUDA checkpoint on a CPU-only machine; this one trains on CUDA")
    torch.save({"global_step": 10, DEVICE_TYPE_KEY: "cuda"}, RunDir(tmp_path).checkpoint)
    record = train_one(compose_config(*TINY, "trainer.max_steps=20"), tmp_path)
    assert record["status"] == "failed"
    assert record["error"] == (
        f"{RunDir(tmp_path).checkpoint} was written on cuda and this run trains on cpu: a run "
        f"resumes only on the device kind it started on (run it on cuda, or delete the "
        f"checkpoint to start over)")
    assert (RunDir(tmp_path).checkpoint).exists(), "the checkpoint stays for a CUDA machine"
    assert read_record(tmp_path)["status"] == "failed"
    assert torch.load(RunDir(tmp_path).checkpoint)[DEVICE_TYPE_KEY] == "cuda"  # untouched
