"""Schedules never refuse a valid run: validation, logging and the probe fire at every interval
and at the last step; an interval longer than the run fires at the end only (with a note when
the command line set it); an interval below 1 is refused."""

from __future__ import annotations

import os
import signal

import pytest

from conftest import compose_config, run_cli
from rnnmem.config import ConfigError, validate
from rnnmem.preflight import check_devices
from rnnmem.rundir.checkpoint import resumable_checkpoint
from rnnmem.rundir.record import read_record
from rnnmem.train import train_one
from rnnmem.training.callbacks import LearningCurves
from rnnmem.training.schedule import (
    Schedule,
    explicit_keys,
    long_interval_notes,
    schedule_intervals,
)
from test_wandb_logging import history, inspect_records

# a run whose length is a multiple of none of its intervals: k = gcd(130, 50, 20, 60) = 10
OFF_SCHEDULE = ("task.seq_len=6", "model.hidden_size=8", "data.val_size=32",
                "data.test_size=32", "trainer.max_steps=130", "trainer.val_every_n_steps=50",
                "trainer.log_every_n_steps=20", "probe.every_n_steps=60",
                "trainer.progress_bar=false", "threads=1")


def test_schedule_fires_every_interval_and_at_the_last_step():
    assert [s for s in range(1, 131) if Schedule(50, 130).due(s)] == [50, 100, 130]
    assert [s for s in range(1, 21) if Schedule(250, 20).due(s)] == [20]
    assert Schedule(250, 20).interval == 20 and Schedule(50, 130).interval == 50


def test_steps_per_batch_read_only_the_intervals_within_the_run():
    intervals = schedule_intervals(compose_config("trainer.max_steps=100"))
    assert intervals == {"trainer.max_steps": 100, "trainer.log_every_n_steps": 50}
    assert check_devices(compose_config("trainer.max_steps=1")) == 1
    assert check_devices(compose_config("trainer.max_steps=20")) == 20
    assert check_devices(compose_config("trainer.max_steps=100")) == 50
    # the defaults' own intervals (2000, 250, 50, 200): 50 steps per batch, as before
    assert check_devices(compose_config()) == 50


@pytest.mark.parametrize("key", ["trainer.val_every_n_steps", "trainer.log_every_n_steps",
                                 "probe.every_n_steps"])
def test_an_interval_below_one_is_refused_in_one_line(key):
    with pytest.raises(ConfigError) as err:
        validate(compose_config(f"{key}=0"))
    assert str(err.value) == f"{key}=0 must be >= 1"


def test_only_intervals_set_on_the_command_line_get_a_note():
    cfg = compose_config("trainer.max_steps=100", "probe.every_n_steps=500")
    explicit = explicit_keys(["trainer.max_steps=100", "+probe.every_n_steps=500"])
    assert long_interval_notes(cfg, explicit) == [
        "probe.every_n_steps=500 is longer than trainer.max_steps=100: it runs at step 0 and "
        "at the end only"]
    assert long_interval_notes(cfg, {"trainer.max_steps"}) == [], "defaults pass quietly"
    off = compose_config("trainer.max_steps=100", "probe.every_n_steps=500", "probe=off")
    assert long_interval_notes(off, explicit) == [], "a probe that is off has no schedule"


@pytest.mark.parametrize("steps", [1, 20])
def test_short_runs_at_the_default_schedules_validate_and_probe_at_the_end(tmp_path, steps):
    record = train_one(compose_config("task=adding", "model.cell=lstm",
                                      f"trainer.max_steps={steps}", "logger=none",
                                      "trainer.progress_bar=false"), tmp_path)
    assert record["status"] == "finished" and record["train_steps"] == steps
    assert read_record(tmp_path)["status"] == "finished"
    assert record["steps_per_batch"] == steps
    assert [row["step"] for row in record["curves"]["val"]] == [steps]
    assert [row["step"] for row in record["curves"]["train"]] == [steps]
    assert record["probe"]["steps"] == [0, steps]
    assert 0 < record["test_mse"] < 2


@pytest.mark.slow
def test_the_issues_100_step_command_runs_from_the_cli(tmp_path):
    result = run_cli("task=adding", "model.cell=lstm", "trainer.max_steps=100",
                     "trainer.progress_bar=false", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert "rnnmem: note" not in result.stderr and "error" not in result.stderr
    record = read_record(tmp_path)
    assert record["status"] == "finished" and record["train_steps"] == 100
    assert [row["step"] for row in record["curves"]["val"]] == [100]
    assert [row["step"] for row in record["curves"]["train"]] == [50, 100]
    assert record["probe"]["steps"] == [0, 100]
    # an interval the user set beyond the run: one line, and the run goes on
    noted = run_cli("task=adding", "model.cell=lstm", "model.hidden_size=8",
                    "trainer.max_steps=20", "trainer.val_every_n_steps=500", "logger=none",
                    "data.val_size=32", "data.test_size=32", "trainer.progress_bar=false",
                    f"hydra.run.dir={tmp_path / 'noted'}")
    assert noted.returncode == 0, noted.stderr
    notes = [line for line in noted.stderr.splitlines() if line.startswith("rnnmem:")]
    assert notes == ["rnnmem: note: trainer.val_every_n_steps=500 is longer than "
                     "trainer.max_steps=20: it runs at the end only"]
    assert [row["step"] for row in read_record(tmp_path / "noted")["curves"]["val"]] == [20]


@pytest.fixture(scope="module")
def off_schedule(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """The off-schedule run at the automatic 10 steps per batch (logging to W&B) and at 1."""
    auto_dir = tmp_path_factory.mktemp("auto")
    auto = train_one(compose_config("logger=wandb", *OFF_SCHEDULE), auto_dir)
    one = train_one(compose_config("logger=none", *OFF_SCHEDULE, "trainer.steps_per_batch=1"),
                    tmp_path_factory.mktemp("one"))
    return {**auto, "run_dir": auto_dir}, one


def test_a_run_off_its_intervals_validates_logs_and_probes_at_the_last_step(off_schedule):
    auto, one = off_schedule
    assert auto["steps_per_batch"] == 10 and auto["status"] == "finished"
    assert [row["step"] for row in auto["curves"]["val"]] == [50, 100, 130]
    assert [row["step"] for row in auto["curves"]["train"]] == [20, 40, 60, 80, 100, 120, 130]
    assert auto["probe"]["steps"] == [0, 60, 120, 130]
    # the same schedule and bits at one step per batch
    assert one["curves"] == auto["curves"] and one["probe"]["steps"] == auto["probe"]["steps"]
    assert one["weights_sha256"] == auto["weights_sha256"]
    # and W&B has the last step's loss and validation (Lightning's step index: from 0)
    items = history(inspect_records(auto["run_dir"]))
    assert [i["trainer/global_step"] for i in items if "train/loss" in i] == [
        19, 39, 59, 79, 99, 119, 129]
    assert [i["trainer/global_step"] for i in items if "val/mse" in i] == [49, 99, 129]


@pytest.mark.slow
@pytest.mark.parametrize(("hook", "step"), [
    ("on_train_batch_end", 120),  # a batch end without validation, one batch before the end
    ("on_validation_epoch_end", 130),  # during the last step's own validation
])
def test_a_run_stopped_near_its_off_schedule_end_resumes_to_the_uninterrupted_run(
        tmp_path, off_schedule, stop_signal_reset, monkeypatch, hook, step):
    _, uninterrupted = off_schedule
    original = getattr(LearningCurves, hook)

    def signalling(self, trainer, *args):
        original(self, trainer, *args)
        if trainer.global_step == step and not trainer.sanity_checking:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(LearningCurves, hook, signalling)
    cfg = compose_config("logger=none", *OFF_SCHEDULE)
    stopped = train_one(cfg, tmp_path)
    assert stopped["status"] == "preempted" and stopped["train_steps"] == step
    assert resumable_checkpoint(tmp_path).step == step
    monkeypatch.setattr(LearningCurves, hook, original)
    stop_signal_reset.received = None
    resumed = train_one(cfg, tmp_path)
    assert resumed["status"] == "finished" and resumed["resumed_from_step"] == step
    assert resumed["curves"] == uninterrupted["curves"], "one validation at the end"
    assert resumed["weights_sha256"] == uninterrupted["weights_sha256"]
    assert resumed["test_mse"] == uninterrupted["test_mse"]
    assert resumed["probe"]["steps"] == uninterrupted["probe"]["steps"]
