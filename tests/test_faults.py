"""Faults injected for real: signals to a running training process, truncated records and cache
files, a full disk (a tiny tmpfs), two sweeps of one directory at once, a changed config on
resume, a hidden-size sweep, bad values, W&B without a key or a server, stale locks."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from conftest import ROOT, compose_config, gate, gated_env, paused_steps, run_cli, wait_until
from rnnmem.config import ConfigError, validate
from rnnmem.reporting.records import load_sweep
from rnnmem.rundir.checkpoint import resumable_checkpoint
from rnnmem.rundir.identity import BOOKKEEPING, identity_config, place_id, run_hash, wandb_run_id
from rnnmem.rundir.lock import RunLock
from rnnmem.rundir.paths import RunDir
from rnnmem.rundir.record import CorruptRecord, read_record
from rnnmem.tasks import AddingTask, heldout_set
from rnnmem.tracking import wandb_run
from rnnmem.train import train_one
from rnnmem.training.callbacks import LearningCurves

# A run long enough (a few seconds of training) to be stopped half-way. On the CPU on every
# machine: the bit-exact resume is claimed for the CPU only (on CUDA it has not been checked yet:
# README, GPU).
SIGNAL_RUN = (
    "trainer.accelerator=cpu", "task.seq_len=6", "model.hidden_size=8", "data.val_size=32",
    "data.test_size=32",
    "trainer.max_steps=1500", "trainer.val_every_n_steps=100", "trainer.log_every_n_steps=50",
    "probe.every_n_steps=100", "trainer.progress_bar=false", "threads=1",
)
# A checkpoint at every batch end (a billionth of a minute apart), so that the gate pauses the
# run at its first batch end, however fast the machine. The interval is bookkeeping: not in
# the hash.
CHECK_EVERY_BATCH = "checkpoint.every_minutes=1e-9"


def records(sweep_dir: Path) -> dict[str, dict]:
    return {str(p.parent.relative_to(sweep_dir)): json.loads(p.read_text())
            for p in sorted(sweep_dir.rglob("record.json"))}


def start_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rnnmem.train", *args], cwd=ROOT,
                            env=gated_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The reference: the same config trained in one go (in this process)."""
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    return train_one(compose_config("logger=none", *SIGNAL_RUN), run_dir)


# --- 2. preemption: a real signal to a real run, then the same command again ---------------------


def stop_half_way(tmp_path: Path, gate_dir: Path, signum: int, *args: str) -> dict:
    """Start a real run in `tmp_path` that pauses after its first checkpoint (its gate), send it
    `signum` there; its record. It stops one batch later: 50 optimiser steps, the schedules'
    greatest common divisor (`rnnmem.training.module.steps_per_batch`)."""
    proc = start_cli(*args, *gate("PauseAfterFirstCheckpoint", gate_dir))
    wait_until(lambda: tmp_path.name in paused_steps(gate_dir), "the run paused", proc)
    paused = paused_steps(gate_dir)[tmp_path.name]
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    stopped = read_record(tmp_path)
    assert stopped["status"] == "preempted" and stopped["signal"] == signal.Signals(signum).name
    assert paused == 50, "the first checkpoint, at the first batch end"
    assert stopped["train_steps"] == 100, "the next batch end, after its validation"
    assert resumable_checkpoint(tmp_path).step == 100
    return stopped


@pytest.mark.slow
def test_sigterm_checkpoints_records_preempted_and_resume_is_bit_exact(
        tmp_path, gate_dir, uninterrupted):
    args = ("logger=wandb", *SIGNAL_RUN, CHECK_EVERY_BATCH, f"hydra.run.dir={tmp_path}")
    stopped = stop_half_way(tmp_path, gate_dir, signal.SIGTERM, *args)
    assert stopped["config_hash"] == uninterrupted["config_hash"], "the gate is not in the hash"
    k = stopped["train_steps"]

    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    final = read_record(tmp_path)
    assert final["status"] == "finished" and final["resumed_from_step"] == k
    assert final["train_steps"] == 1500
    for key in ("test_loss", "test_mse"):
        assert final[key] == uninterrupted[key], f"{key} differs after resuming at step {k}"
    assert final["curves"] == uninterrupted["curves"]
    assert final["probe"]["steps"] == uninterrupted["probe"]["steps"]
    assert final["probe"]["memory_horizon"] == uninterrupted["probe"]["memory_horizon"]
    assert not (tmp_path / RunDir.CHECKPOINT).exists(), "a finished run's checkpoint is removed"
    starts = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(starts) == 2, "two starts of the run..."
    ids = {p.name.rsplit("-", 1)[1] for p in starts}
    assert ids == {final["wandb_run_id"]}, "...one W&B run"
    assert final["wandb_run_id"] == wandb_run_id(final["config_hash"], None, place_id(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize(("hook", "step"), [
    ("on_train_batch_end", 450),  # a batch end without validation
    ("on_train_batch_end", 500),  # a batch end where validation is due: checkpoint after it
    ("on_validation_epoch_end", 300),  # during a validation
])
def test_signal_at_each_kind_of_step_resumes_to_the_uninterrupted_run(
    tmp_path, uninterrupted, stop_signal_reset, monkeypatch, hook, step,
):
    """SIGTERM sent to this process at a chosen point of step `step` (the random moment of the
    test above, made certain): the stopped start's curves stay on the schedule and end where
    its checkpoint is, and the resumed run equals the uninterrupted one."""
    original = getattr(LearningCurves, hook)

    def signalling(self, trainer, *args):
        original(self, trainer, *args)
        if trainer.global_step == step and not trainer.sanity_checking:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(LearningCurves, hook, signalling)
    cfg = compose_config("logger=none", *SIGNAL_RUN)
    stopped = train_one(cfg, tmp_path)
    assert stopped["status"] == "preempted" and stopped["train_steps"] == step
    val_steps = [row["step"] for row in stopped["curves"]["val"]]
    assert val_steps == list(range(100, step + 1, 100)), "validations on the schedule only"
    assert resumable_checkpoint(tmp_path).step == step

    monkeypatch.setattr(LearningCurves, hook, original)
    stop_signal_reset.received = None
    resumed = train_one(cfg, tmp_path)
    assert resumed["status"] == "finished" and resumed["resumed_from_step"] == step
    assert resumed["curves"] == uninterrupted["curves"]
    assert resumed["test_mse"] == uninterrupted["test_mse"]
    assert resumed["probe"]["steps"] == uninterrupted["probe"]["steps"]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGUSR1])
def test_ctrl_c_and_sigusr1_checkpoint_and_record_preempted(tmp_path, gate_dir, signum):
    stop_half_way(tmp_path, gate_dir, signum, "logger=none", *SIGNAL_RUN, CHECK_EVERY_BATCH,
                  f"hydra.run.dir={tmp_path}")


@pytest.mark.slow
def test_checkpoint_is_kept_on_request_and_a_corrupt_one_is_set_aside(tmp_path):
    cfg = compose_config("logger=none", "task.seq_len=4", "model.hidden_size=4",
                         "data.val_size=8", "data.test_size=8", "trainer.max_steps=20",
                         "trainer.progress_bar=false", "checkpoint.every_minutes=0.0001",
                         "checkpoint.keep=true")
    assert train_one(cfg, tmp_path)["status"] == "finished"
    assert resumable_checkpoint(tmp_path).step == 20
    files = RunDir(tmp_path)
    files.checkpoint.write_bytes(b"truncated")
    assert resumable_checkpoint(tmp_path) is None
    assert files.corrupt_checkpoint.exists() and not files.checkpoint.exists()


# --- 1. a run is its config ---------------------------------------------------------------------


def test_hash_ignores_bookkeeping_and_sees_every_other_key():
    base = compose_config("task.seq_len=6")
    same = compose_config("task.seq_len=6", "threads=3", "logger=none",
                          "trainer.progress_bar=false", "checkpoint.every_minutes=1",
                          "data.cache_dir=/elsewhere", "logger.group=g",
                          "data.heldout_max_gb=1", "on_code_change=keep")
    assert run_hash(base) == run_hash(same)
    for change in ("model.hidden_size=16", "optim.lr=0.5", "model.init=orthogonal",
                   "trainer.max_steps=7", "probe.threshold=0.1", "seed=1"):
        assert run_hash(compose_config("task.seq_len=6", change)) != run_hash(base), change
    keys = identity_config(base)
    assert "logger" not in keys and "threads" not in keys and "cache_dir" not in keys["data"]
    assert "threads" in BOOKKEEPING
    run_id = wandb_run_id
    assert run_id(run_hash(base), "sweep-a", "p") != run_id(run_hash(base), "sweep-b", "p")
    assert run_id(run_hash(base), "sweep", "p") != run_id(run_hash(base), "sweep", "q")


@pytest.mark.slow
def test_sweep_identity_resume_and_wandb_check_through_three_invocations(tmp_path):
    """1: a hidden-size sweep, W&B online without a key: two runs, offline, said once. 2: the
    same command after one record was truncated: that job retrains, the other is skipped.
    3: changed values: new runs beside the old records, one line per kind of change."""
    env = dict(os.environ, WANDB_MODE="online", HOME=str(tmp_path), PYTHONWARNINGS="ignore")
    env.pop("WANDB_API_KEY", None)
    sweep_dir = tmp_path / "sweep"
    args = ["+experiment=smoke", "model.cell=rnn", "model.hidden_size=8,16", "logger=wandb",
            f"hydra.sweep.dir={sweep_dir}"]

    def sweep(*extra: str) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "rnnmem.train", *args, *extra],
                                cwd=ROOT, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    first = sweep()
    note = "W&B logged offline: WANDB_MODE=online but no W&B API key"
    assert first.stdout.count(note) == 2, "said once up front and once in the summary"
    found = records(sweep_dir)
    assert sorted(r["config"]["model"]["hidden_size"] for r in found.values()) == [8, 16]
    for job, record in found.items():
        assert job == f"adding/rnn-d1-uni-T6-s0-{record['config_hash'][:8]}"
        assert note in record["wandb_fallback"]
    assert len(list((sweep_dir / "wandb").glob("offline-run-*"))) == 2

    truncated, kept = (sweep_dir / job / "record.json" for job in sorted(found))
    truncated.write_text(truncated.read_text()[:100])
    kept_bytes = kept.read_bytes()
    second = sweep()
    assert read_record(truncated.parent)["status"] == "finished", "retrained"
    assert kept.read_bytes() == kept_bytes
    assert second.stdout.count("already holds a complete record") == 1
    assert "[sweep] 2/2 recorded: 2 finished" in second.stdout

    third = sweep("trainer.max_steps=10", "optim.lr=0.02")
    assert ("[sweep] 2 jobs differ from existing records in optim.lr, trainer.max_steps: "
            "new runs") in third.stdout
    assert "[sweep] 2/2 recorded: 2 finished" in third.stdout
    assert "[sweep] 2 records of other configs kept" in third.stdout
    after = records(sweep_dir)
    assert len(after) == 4 and kept.read_bytes() == kept_bytes, "old records stay"
    assert sorted(r["train_steps"] for r in after.values()) == [10, 10, 20, 20]


# --- 6. two invocations of one sweep at once ------------------------------------------------


@pytest.mark.slow
def test_two_concurrent_sweeps_of_one_directory_train_each_job_once(tmp_path):
    args = ("+experiment=smoke", "logger=wandb", "hydra.launcher.n_jobs=1",
            "trainer.max_steps=100", f"hydra.sweep.dir={tmp_path}")
    procs = [start_cli(*args) for _ in range(2)]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    found = records(tmp_path)
    assert len(found) == 2 and all(r["status"] == "finished" for r in found.values())
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 2, "each job trained once"
    stdout = "".join(out for out, _ in outputs)
    assert stdout.count("skipping ") == 2, "the other invocation skipped each job, saying so"
    assert "missing" not in stdout


def test_run_lock_is_exclusive_across_processes_and_dies_with_its_holder(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from rnnmem.rundir.lock import RunLock; "
         f"assert RunLock({str(tmp_path)!r}).acquire(); print('held', flush=True); "
         "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert not RunLock(tmp_path).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lock = RunLock(tmp_path)
    assert lock.acquire(), "a killed holder leaves no stale lock"
    lock.release()


# --- 4. bad input and bad state -----------------------------------------------------------------


@pytest.mark.parametrize(("override", "message"), [
    ("task.seq_len=1", "task.seq_len=1 must be >= 2 for task=adding"),
    ("optim.grad_clip=0", "optim.grad_clip=0.0 must be > 0.0 (or null)"),
    ("+optim.lrr=0.5", "unknown key optim.lrr; known keys of optim: grad_clip, lr, lr_by_cell, "
                       "lr_scale, name, weight_decay, weight_decay_scale"),
    # (1000 + 2000) sequences x 1e8 steps x 2 float32 inputs = 2.4e12 bytes
    ("task.seq_len=100000000", "need about 2.4e+03 GB, over data.heldout_max_gb=4.0"),
    ("seed=-1", "seed=-1 must satisfy 0 <= seed < 4294967296"),
    ("seed=4294967296", "seed=4294967296 must satisfy 0 <= seed < 4294967296"),
    ("trainer.val_every_n_steps=0", "trainer.val_every_n_steps=0 must be >= 1"),
    ("probe.every_n_steps=-5", "probe.every_n_steps=-5 must be >= 1"),
    ("on_code_change=ask", "on_code_change='ask' is not one of: error, rerun, keep"),
    # NaN passes no comparison and infinity every lower bound: a number must be finite
    ("optim.lr=nan", "optim.lr=nan must be a finite number > 0.0"),
    ("optim.lr=inf", "optim.lr=inf must be a finite number > 0.0"),
    ("data.heldout_max_gb=nan", "data.heldout_max_gb=nan must be a finite number > 0.0"),
    ("optim.grad_clip=nan", "optim.grad_clip=nan must be a finite number > 0.0"),
    ("model.forget_bias=nan", "model.forget_bias=nan must be a finite number"),
    ("model.forget_bias=-inf", "model.forget_bias=-inf must be a finite number"),
    ("optim.lr_by_cell=3", "optim.lr_by_cell=3 must be a mapping {cell: value} (or null)"),
    ("optim.lr_by_cell={gru: abc}", "optim.lr_by_cell.gru='abc' must be a finite number > 0"),
    ("optim.lr_by_cell={gru: nan}", "optim.lr_by_cell.gru=nan must be a finite number > 0"),
    ("model.hidden_size_by_cell=[8]",
     "model.hidden_size_by_cell=[8] must be a mapping {cell: value} (or null)"),
    ("threads=0", "threads=0 must be >= 1"),
    ("threads=-1", "threads=-1 must be >= 1"),
])
def test_bad_values_are_refused_in_one_line(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate(compose_config(override))


def test_null_grad_clip_is_allowed():
    validate(compose_config("optim.grad_clip=null"))


@pytest.mark.slow
def test_bad_values_stop_runs_and_sweeps_in_one_line_before_anything_starts(tmp_path):
    cases = [
        (("optim.lr=nan",), "optim.lr=nan must be a finite number > 0.0"),
        (("threads=0",), "threads=0 must be >= 1"),
        (("+experiment=smoke", "optim.lr_by_cell=3"),  # a sweep: before any job starts
         "optim.lr_by_cell=3 must be a mapping {cell: value} (or null)"),
        (("+experiment=nosuch",), "experiment=nosuch is not one of: arjovsky2016, default, "
                                  "paper, recall, smoke"),
    ]
    for number, (overrides, message) in enumerate(cases):
        where = tmp_path / str(number)
        result = run_cli(*overrides, f"hydra.run.dir={where}", f"hydra.sweep.dir={where}")
        assert result.returncode == 2, result.stderr[-2000:]
        assert result.stderr.strip() == f"rnnmem: error: {message}"
        assert not list(where.rglob("record.json")) and not (where / "adding").exists()


def test_huge_heldout_set_is_refused_from_the_cli_before_anything_is_generated(
        tmp_path, monkeypatch):
    def generate(*args, **kwargs):
        raise AssertionError("a sequence was generated before the size check")

    cfg = compose_config("task.seq_len=100000000")
    monkeypatch.setattr(AddingTask, "sample", generate)
    with pytest.raises(ConfigError, match="heldout_max_gb"):
        validate(cfg)
    monkeypatch.undo()
    result = run_cli("task.seq_len=100000000", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("rnnmem: error: task.seq_len=100000000: the "
                                            "held-out sets")
    assert not list(tmp_path.glob("record.json"))


def test_truncated_record_is_named_skipped_by_readers_and_not_complete(tmp_path):
    good, bad = tmp_path / "adding" / "good", tmp_path / "adding" / "bad"
    cfg = compose_config("logger=none", "task.seq_len=4", "model.hidden_size=4",
                         "data.val_size=8", "data.test_size=8", "trainer.max_steps=5",
                         "trainer.progress_bar=false")
    train_one(cfg, good)
    train_one(cfg, bad)
    text = (bad / "record.json").read_text()
    (bad / "record.json").write_text(text[: len(text) // 2])
    with pytest.raises(CorruptRecord, match=str(bad / "record.json")):
        read_record(bad)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = load_sweep(tmp_path)
    assert list(frame["run_dir"]) == [str(good)]
    assert any(str(bad / "record.json") in str(w.message) for w in caught)


@pytest.mark.parametrize("damage", ["truncate", "empty", "remove_checksums"])
def test_corrupt_heldout_cache_is_detected_and_rebuilt(tmp_path, caplog, damage):
    task = AddingTask(7)
    x, y = heldout_set(task, "test", 20, seed=3, cache_dir=tmp_path)
    (path,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    arrow = max(path.glob("*.arrow"), key=lambda p: p.stat().st_size)
    if damage == "truncate":
        arrow.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])
    elif damage == "empty":
        arrow.write_bytes(b"")
    else:
        (path / "checksums.json").unlink()
    x2, y2 = heldout_set(task, "test", 20, seed=3, cache_dir=tmp_path)
    assert np.array_equal(x.numpy(), x2.numpy()) and np.array_equal(y.numpy(), y2.numpy())
    assert f"held-out cache {path} is corrupt" in caplog.text
    x3, _ = heldout_set(task, "test", 20, seed=3, cache_dir=tmp_path)  # the rebuilt one is good
    assert np.array_equal(x.numpy(), x3.numpy())
    assert caplog.text.count("is corrupt") == 1


@pytest.mark.slow
def test_full_disk_gives_one_line_and_a_failed_record_never_finished(tiny_tmpfs):
    run_dir = tiny_tmpfs / "run"
    # probe.npz of 4 probes of a 2-layer bidirectional LSTM x 320 steps (~370 KB) cannot fit;
    # the record (~70 KB, the item-memory curves per lag included) can
    result = run_cli("logger=none", "task=copy", "task.seq_len=300", "model.hidden_size=8",
                     "model.depth=2", "model.bidirectional=true",
                     "data.val_size=32", "data.test_size=32", "trainer.max_steps=30",
                     "trainer.val_every_n_steps=30", "trainer.log_every_n_steps=10",
                     "probe.every_n_steps=10",
                     "trainer.progress_bar=false", f"hydra.run.dir={run_dir}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"rnnmem: error: run lstm-d2-bi-T300-s0 failed: writing {run_dir}/probe.npz failed: "
        "OSError: [Errno 28] No space left on device"]
    record = read_record(run_dir)
    assert record["status"] == "failed" and "No space left on device" in record["error"]
    assert not (run_dir / "probe.npz").exists()
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")], "no partial files"


# --- 5. W&B checked once, before anything trains ------------------------------------------


def test_online_without_key_or_server_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert "no W&B API key" in wandb_run.online_problem()
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens on port 9
    # refused at once (nothing listens), not left to the reach timeout
    assert "cannot reach http://127.0.0.1:9" in wandb_run.online_problem()
    assert "Connection refused" in wandb_run.online_problem()


def test_online_unreachable_is_one_line_before_training(tmp_path):
    env = dict(os.environ, WANDB_MODE="online", WANDB_API_KEY="x" * 40,
               WANDB_BASE_URL="http://127.0.0.1:9")
    result = subprocess.run(
        [sys.executable, "-m", "rnnmem.train", "logger.if_unreachable=error",
         f"hydra.run.dir={tmp_path}"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "rnnmem: error: WANDB_MODE=online but cannot reach http://127.0.0.1:9 within 5 s "
        "([Errno 111] Connection refused); set WANDB_MODE=offline or "
        "logger.if_unreachable=offline")
    assert not (tmp_path / "record.json").exists()


def test_config_of_a_record_hashes_like_the_composed_config(tmp_path):
    cfg = compose_config("logger=none", "task.seq_len=4", "model.hidden_size=4",
                         "data.val_size=8", "data.test_size=8", "trainer.max_steps=3",
                         "trainer.progress_bar=false")
    record = train_one(cfg, tmp_path)
    assert run_hash(OmegaConf.create(record["config"])) == record["config_hash"] == run_hash(cfg)
