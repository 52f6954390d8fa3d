"""Several optimiser steps per Lightning batch: the same schedules and the same weights as one."""

from __future__ import annotations

import platform

import datasets
import hydra
import numpy
import pytest
import pytorch_lightning as pl
import torch
import wandb
from pytorch_lightning.callbacks import ModelCheckpoint

from conftest import compose_config, run_cli
from rnnmem.config import ConfigError
from rnnmem.models import RecurrentNet
from rnnmem.preflight import check_devices
from rnnmem.rundir.record import read_record
from rnnmem.tasks import make_task
from rnnmem.train import train_one
from rnnmem.training.lifecycle import weights_digest
from rnnmem.training.module import MemoryTaskModule
from rnnmem.training.schedule import steps_per_batch

TINY = ("logger=none", "trainer.progress_bar=false", "data.val_size=64", "data.test_size=64")


@pytest.mark.parametrize("intervals,expected", [
    ({"max": 500, "val": 100, "log": 50, "probe": 100}, 50),   # the default sweep
    ({"max": 20000, "val": 1000, "log": 100, "probe": 500}, 50),  # the paper preset
    ({"max": 2000, "val": 250, "log": 50, "probe": 200}, 50),   # conf/train.yaml's defaults
    ({"max": 20, "val": 10, "log": 5, "probe": 10}, 5),        # the smoke preset
    ({"max": 53, "val": 106}, 1),  # a prime above the cap: one step per batch
    ({"max": 37, "val": 74}, 37),
    ({"max": 60}, 30),
    ({"max": 120, "val": 120}, 40),
])
def test_automatic_steps_per_batch_divide_every_schedule(intervals, expected):
    k = steps_per_batch(intervals)
    assert k == expected
    assert all(interval % k == 0 for interval in intervals.values())


def test_requested_steps_per_batch_must_divide_every_schedule():
    assert steps_per_batch({"a": 40, "b": 20}, 4) == 4
    with pytest.raises(ValueError, match=r"steps_per_batch=3 does not divide b=20"):
        steps_per_batch({"a": 30, "b": 20}, 3)
    cfg = compose_config("trainer.steps_per_batch=7", "trainer.max_steps=70")
    # the intervals within the run (validation's 250 fires at the end of this 70-step run)
    with pytest.raises(ConfigError, match=r"^trainer.steps_per_batch=7 does not divide "
                                          r"trainer.log_every_n_steps=50"):
        check_devices(cfg)
    with pytest.raises(ConfigError, match="must be >= 1"):
        check_devices(compose_config("trainer.steps_per_batch=0"))


def run(tmp_path, *overrides):
    return train_one(compose_config(*TINY, "task=copy", "task.seq_len=4", "model=lstm",
                                    "model.hidden_size=8", "trainer.max_steps=30",
                                    "trainer.val_every_n_steps=10", "trainer.log_every_n_steps=5",
                                    "probe.every_n_steps=10", *overrides), tmp_path)


@pytest.mark.parametrize("accelerator", [
    "cpu",
    pytest.param("gpu", marks=pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="no CUDA device here: the same bits on CUDA (deterministic kernels, "
               "trainer.deterministic=true) are checked on a GPU box")),
])
def test_k_steps_per_batch_train_the_same_bits_on_the_same_schedule(tmp_path, accelerator):
    device = f"trainer.accelerator={accelerator}"
    one = run(tmp_path / "one", device, "trainer.steps_per_batch=1")
    five = run(tmp_path / "five", device, "trainer.steps_per_batch=5")
    auto = run(tmp_path / "auto", device)
    assert (one["steps_per_batch"], five["steps_per_batch"], auto["steps_per_batch"]) == (1, 5, 5)
    assert one["status"] == five["status"] == "finished"
    assert one["train_steps"] == five["train_steps"] == 30
    assert [p["step"] for p in one["curves"]["train"]] == [5, 10, 15, 20, 25, 30]
    assert [p["step"] for p in one["curves"]["val"]] == [10, 20, 30]
    assert one["probe"]["steps"] == [0, 10, 20, 30]
    # identical schedules and identical numbers at every one of them
    assert five["curves"] == one["curves"]
    assert five["probe"]["steps"] == one["probe"]["steps"]
    assert five["probe"]["memory_horizon"] == one["probe"]["memory_horizon"]
    assert five["weights_sha256"] == one["weights_sha256"] == auto["weights_sha256"]
    assert five["test_loss"] == one["test_loss"]
    # and a different seed really gives other weights: the digest can fail
    assert run(tmp_path / "other", device, "seed=1")["weights_sha256"] != one["weights_sha256"]


def test_record_carries_the_versions_device_and_precision(tmp_path):
    record = run(tmp_path, "trainer.max_steps=10", "probe.enabled=false")
    env = read_record(tmp_path)["environment"]
    assert env["python"] == platform.python_version()
    assert env["torch"] == torch.__version__
    assert env["pytorch-lightning"] == pl.__version__
    assert (env["hydra-core"], env["wandb"], env["datasets"], env["numpy"]) == (
        hydra.__version__, wandb.__version__, datasets.__version__, numpy.__version__)
    assert env["cuda"] == torch.version.cuda
    # the machine's training device: cuda:0 on a GPU box, the CPU elsewhere
    device = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert env["device"] == record["device"] == device and env["device_name"]
    assert record["precision"] == {"training": "32-true", "evaluation": "32-true",
                                   "recurrent_dtype": "float32",
                                   "tf32_matmul": False, "tf32_cudnn": False}
    assert record["determinism"]["deterministic"] is True
    assert record["determinism"]["deterministic_algorithms"] is (device != "cpu")
    assert record["config"]["trainer"]["tf32"] is False


def test_cli_rejects_steps_per_batch_off_the_schedule_in_one_line(tmp_path):
    result = run_cli("trainer.steps_per_batch=7", *TINY, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "rnnmem: error: trainer.steps_per_batch=7 does not divide trainer.max_steps=2000: "
        "every schedule must fall on a batch end")
    assert not (tmp_path / "record.json").exists()


def fit_module(tmp_path, max_steps, k, ckpt_path=None, save_every=None):
    """The module alone under a plain Trainer (checkpointing as Lightning does it)."""
    task = make_task("adding", 8)
    torch.manual_seed(0)
    net = RecurrentNet("gru", task.input_size, 8, depth=1, num_outputs=task.num_outputs,
                       per_step_output=task.per_step_output)
    module = MemoryTaskModule(task, net, batch_size=8, seed=3, lr=1e-2, check_every_n_steps=5,
                              steps_per_batch=k)
    callbacks = [] if save_every is None else [ModelCheckpoint(
        dirpath=tmp_path, every_n_train_steps=save_every, save_top_k=-1)]
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=max_steps, logger=False,
                         enable_checkpointing=save_every is not None, callbacks=callbacks,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=str(tmp_path))
    trainer.fit(module, ckpt_path=ckpt_path)
    return weights_digest(net), trainer.global_step


@pytest.mark.parametrize("k", [1, 5])
def test_resuming_at_a_batch_end_trains_the_same_bits(tmp_path, k):
    straight, steps = fit_module(tmp_path / "straight", 20, k)
    fit_module(tmp_path / "first", 10, k, save_every=10)
    (checkpoint,) = (tmp_path / "first").glob("*.ckpt")  # the one at step 10
    resumed, resumed_steps = fit_module(tmp_path / "second", 20, k, ckpt_path=str(checkpoint))
    assert steps == resumed_steps == 20
    assert resumed == straight
    # without the generator's state the resumed run draws other batches
    state = torch.load(checkpoint, weights_only=False)
    del state["rnnmem_generator_state"]
    torch.save(state, tmp_path / "no_generator.ckpt")
    other, _ = fit_module(tmp_path / "third", 20, k, ckpt_path=str(tmp_path / "no_generator.ckpt"))
    assert other != straight
