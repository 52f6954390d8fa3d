"""The single-run entry point: validation, the run record, reproducibility, learning."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from conftest import compose_config, run_cli
from rnnmem.config import ConfigError, validate
from rnnmem.measures.item_memory import span
from rnnmem.models.optimisers import OPTIMISERS
from rnnmem.reporting.records import load_item_memory, load_run
from rnnmem.rundir.record import read_probe_arrays, read_record
from rnnmem.train import train_one
from rnnmem.training.module import EXPLODED_LOSS_FACTOR

TEST_SIZE = 64
TINY = ("logger=none", "trainer.progress_bar=false", "data.val_size=64",
        f"data.test_size={TEST_SIZE}")


@pytest.mark.parametrize(
    "override,bad,allowed",
    [
        ("model.cell=elman", "'elman'", "rnn, lstm, gru"),
        ("model.depth=0", "0", ">= 1"),
        ("task.seq_len=-5", "-5", ">= 1"),
        ("model.merge=mean", "'mean'", "concat, sum"),
        ("optim.name=sgd", "'sgd'", "adam, rmsprop"),
    ],
)
def test_validate_names_the_bad_value_and_the_allowed_ones(override, bad, allowed):
    cfg = compose_config(override)
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    message = str(err.value)
    assert "\n" not in message
    assert override.split("=")[0] in message and bad in message and allowed in message


def test_validation_reads_the_optimiser_registry(monkeypatch):
    # one registry entry is all a new optimiser needs to pass validation and to train
    monkeypatch.setitem(OPTIMISERS, "sgd", torch.optim.SGD)
    validate(compose_config("optim.name=sgd"))
    monkeypatch.delitem(OPTIMISERS, "sgd")
    with pytest.raises(ConfigError, match="'sgd' is not one of: adam, rmsprop"):
        validate(compose_config("optim.name=sgd"))


def test_default_config_is_valid():
    validate(compose_config())
    validate(compose_config("task=copy", "model=gru", "model.depth=3"))


@pytest.mark.parametrize(
    "override,expected",
    [
        ("model.cell=elman", "model.cell='elman' is not one of: rnn, lstm, gru, irnn, orth, "
                             "mingru, minlstm, lru, s6"),
        ("model.depth=0", "model.depth=0 must be >= 1"),
        ("task.seq_len=-3", "task.seq_len=-3 must be >= 1"),
    ],
)
def test_cli_rejects_bad_value_in_one_line_before_training(tmp_path, override, expected):
    result = run_cli(override, *TINY, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip() == f"rnnmem: error: {expected}"
    assert not (tmp_path / "record.json").exists()


def test_cli_rejects_unknown_task_naming_the_options(tmp_path):
    result = run_cli("task=maze", *TINY, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2  # one line, before Hydra composes anything
    assert result.stderr == ("rnnmem: error: task=maze is not one of: adding, copy, mqar, "
                             "selective_copy\n")


def run_point(tmp_path, *overrides: str) -> dict:
    cfg = compose_config(*TINY, *overrides)
    return train_one(cfg, tmp_path)


def test_run_record_has_the_documented_keys(tmp_path):
    record = run_point(tmp_path, "task=copy", "task.seq_len=5", "model=gru", "model.depth=2",
                       "model.hidden_size=16", "trainer.max_steps=30",
                       "trainer.val_every_n_steps=10", "probe.every_n_steps=10")
    assert record["status"] == "finished"
    row = load_run(tmp_path)
    for key in ("status", "task", "cell", "depth", "bidirectional", "seq_len", "seed",
                "hidden_size", "baseline", "solved", "test_loss", "test_acc",
                "memory_coverage", "memory_horizon", "log10_grad_ratio", "decay_rate",
                "grad_ratio_is_bound", "memory_coverage_init", "memory_horizon_init"):
        assert key in row
    assert 0 <= row["memory_coverage"] <= 1 and 0 <= row["memory_coverage_init"] <= 1
    assert (row["task"], row["cell"], row["depth"], row["seq_len"]) == ("copy", "gru", 2, 5)
    assert row["baseline"] == pytest.approx(10 * math.log(8) / 25)
    assert row["train_steps"] == 30
    assert row["train_steps_per_sec"] > 0
    saved = read_record(tmp_path)
    assert saved["config"]["model"]["hidden_size"] == 16
    assert saved["probe"]["steps"] == [0, 10, 20, 30]
    assert row["memory_horizon_init"] == saved["probe"]["memory_horizon"][0]
    assert set(saved["probe"]["layers"]) == {"l0_fwd", "l1_fwd"}
    assert saved["probe"]["layers"]["l0_fwd"]["memory_horizon"] == saved["probe"]["memory_horizon"]
    arrays = read_probe_arrays(tmp_path)
    assert arrays["x_norm"].shape == (4, 25) and arrays["memory_coverage"].shape == (4,)
    assert saved["probe"]["memory_coverage"] == arrays["memory_coverage"].tolist()
    assert [v["step"] for v in saved["curves"]["val"]] == [10, 20, 30]
    assert saved["version"] and "git_commit" in saved
    # the forgetting curve agrees with Lightning's test accuracy, item for item
    curve = saved["forgetting"]["curve"]
    counts = np.array([p["count"] for p in curve])
    assert [p["position"] for p in curve] == list(range(10)) and counts.sum() == 10 * TEST_SIZE
    assert {p["lag"] for p in curve} == {5 + 10}
    accuracy = np.dot(counts, [p["value"] for p in curve]) / counts.sum()
    assert accuracy == pytest.approx(record["test_acc"], rel=1e-6)
    assert row["memory_span"] == saved["forgetting"]["memory_span"] in (0, 15)


def test_adding_forgetting_curve_is_the_test_mse_split_by_first_marker(tmp_path):
    record = run_point(tmp_path, "task.seq_len=10", "model=lstm", "model.hidden_size=16",
                       "trainer.max_steps=20")
    curve = record["forgetting"]["curve"]
    assert [(p["position"], p["lag"]) for p in curve] == [(p, 9 - p) for p in range(5)]
    counts = np.array([p["count"] for p in curve])
    assert counts.sum() == TEST_SIZE
    mse = np.dot(counts, [p["value"] for p in curve]) / counts.sum()
    assert mse == pytest.approx(record["test_mse"], rel=1e-5)
    span = 0  # by hand: the last lag before the first one at or above 0.01
    for lag, value in sorted((p["lag"], p["value"]) for p in curve):
        if value >= 0.01:
            break
        span = lag
    assert record["memory_span"] == span


def test_same_config_and_seed_give_identical_metrics(tmp_path):
    overrides = ("task.seq_len=10", "model=lstm", "model.hidden_size=16",
                 "trainer.max_steps=40", "trainer.val_every_n_steps=20")
    first = run_point(tmp_path / "a", *overrides)
    second = run_point(tmp_path / "b", *overrides)
    other = run_point(tmp_path / "c", *overrides, "seed=1")
    assert first["test_loss"] == second["test_loss"]
    assert first["curves"] == second["curves"]
    assert first["probe"]["memory_horizon"] == second["probe"]["memory_horizon"]
    assert other["test_loss"] != first["test_loss"]


def test_nan_loss_stops_the_run_as_diverged(tmp_path):
    record = run_point(tmp_path, "task.seq_len=10", "model=rnn", "model.hidden_size=8",
                       "optim.lr=1e30", "optim.grad_clip=null", "trainer.max_steps=400",
                       "trainer.log_every_n_steps=5", "model.init=orthogonal")
    assert record["status"] == "diverged"
    assert record["train_steps"] < 400
    assert json.loads((tmp_path / "record.json").read_text())["status"] == "diverged"


def test_exploding_but_finite_loss_stops_the_run_as_diverged(tmp_path):
    # an IRNN (ReLU, identity recurrence) at lr 1 explodes within a few steps while every
    # number stays finite: the explosion rule, not the NaN check, must stop it
    record = run_point(tmp_path, "task.seq_len=10", "model=irnn", "model.hidden_size=8",
                       "optim=rmsprop", "optim.lr=1", "trainer.max_steps=400",
                       "trainer.log_every_n_steps=5")
    assert record["status"] == "diverged" and record["train_steps"] < 400
    last = record["curves"]["train"][-1]["train_loss"]
    assert math.isfinite(last) and last > EXPLODED_LOSS_FACTOR * record["baseline"]


def test_failure_is_recorded_not_raised(tmp_path):
    record = run_point(tmp_path, "task.seq_len=10", "data.cache_dir=/proc/forbidden")
    assert record["status"] == "failed"
    assert "error" in record and (tmp_path / "error.log").exists()
    assert load_run(tmp_path)["status"] == "failed"


@pytest.mark.slow
def test_lstm_learns_adding_well_below_baseline(tmp_path):
    record = run_point(tmp_path, "task.seq_len=20", "model=lstm", "model.hidden_size=64",
                       "trainer.max_steps=1500", "trainer.val_every_n_steps=500",
                       "optim.lr=3e-3", "probe.every_n_steps=500")
    assert record["status"] == "finished"
    assert record["test_mse"] < 0.167 / 10


@pytest.mark.slow
def test_make_train_cli_leaves_a_loadable_record(tmp_path):
    result = run_cli("task=adding", "task.seq_len=20", "trainer.max_steps=50",
                     "trainer.val_every_n_steps=50", "probe.every_n_steps=50", *TINY,
                     f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    row = load_run(tmp_path)
    assert row["status"] == "finished" and row["train_steps"] == 50
    assert (tmp_path / ".hydra" / "config.yaml").exists()


@pytest.mark.parametrize("threads,n_jobs,cores,expected",
                         [(None, None, 8, 8), (None, -1, 8, 1), (None, 2, 8, 4), (None, -2, 8, 1),
                          (None, 16, 8, 1), (3, -1, 8, 3)])
def test_threads_per_job_share_the_cores(monkeypatch, threads, n_jobs, cores, expected):
    from rnnmem import hardware
    from rnnmem.training import lifecycle

    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert lifecycle.threads_for_job(threads, n_jobs) == expected


@pytest.mark.parametrize("task_name,lags", [("adding", list(range(5))), ("copy", [15])])
def test_item_memory_reaches_record_npz_and_load_item_memory(tmp_path, task_name, lags):
    """Every view per lag in the record / probe.npz, read back by `load_item_memory`, on the
    stratified item set (`probe.items_per_lag` items at every lag); the headlines in
    `load_run` are those of the stored curves."""
    run_point(tmp_path, f"task={task_name}", "task.seq_len=" + ("10" if task_name == "adding"
              else "5"), "model=lstm", "model.bidirectional=true", "model.hidden_size=8",
              "trainer.max_steps=20", "trainer.val_every_n_steps=10", "probe.every_n_steps=10")
    frame = load_item_memory(tmp_path)
    arrays = read_probe_arrays(tmp_path)
    saved = read_record(tmp_path)
    probe_view, end_view = ("gradient", "intervention") if task_name == "adding" \
        else ("probability", "choice")
    assert set(frame["view"]) == {probe_view, end_view, "storage"}
    probed = frame[frame["view"] == probe_view]
    assert sorted(set(probed["step"])) == [0, 10, 20]
    assert sorted(set(probed["lag"])) == lags  # bidirectional adding: min(T-1-p, p) < T/2
    assert probed["count"].min() >= 30  # probe.items_per_lag: every lag measured
    last = arrays["item_memory"][-1]
    np.testing.assert_array_equal(probed[probed["step"] == 20]["memory"], last[0, lags])
    np.testing.assert_array_equal(np.array(saved["probe"]["item_memory"]), arrays["item_memory"])
    ended = frame[frame["view"] == end_view]
    assert sorted(set(ended["step"])) == [0, 20]
    assert ended["count"].min() >= 30 and ended["measured"].all()
    row = load_run(tmp_path)
    assert (row[f"{probe_view}_span"], row[f"{probe_view}_span_is_bound"]) == span(last)
    final = np.array(saved["item_memory"][end_view][-1]["curve"])
    initial = np.array(saved["item_memory"][end_view][0]["curve"])
    assert (row[f"{end_view}_span"], row[f"{end_view}_span_is_bound"]) == span(final)
    assert (row["item_span"], row["item_view"]) == (span(final)[0], end_view)
    assert row[f"{end_view}_span_init"] == span(initial)[0]
    assert row[f"{probe_view}_span_init"] == span(arrays["item_memory"][0])[0]
    for view in (end_view, "storage"):
        assert row[f"{view}_capacity_low"] <= row[f"{view}_capacity"] \
            <= row[f"{view}_capacity_high"]
    assert row["item_capacity"] == row[f"{end_view}_capacity"]


def test_variable_delay_on_adding_is_a_one_line_error_before_training(tmp_path):
    result = run_cli("task=adding", "task.delay=variable", *TINY, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "rnnmem: error: task.delay='variable' is not one of: fixed for task=adding"]
    assert not (tmp_path / "record.json").exists()
