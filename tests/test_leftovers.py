"""What a kill or a signal in the wrong place leaves, for real: SIGKILL inside the rename that
publishes a held-out set or a record leaves its temporary, which the next start removes; a second
Ctrl-C while the held-out set builds records `failed` and says so in one line; SIGTERM after
training (the forgetting pass) says that no checkpoint follows and the run finishes its record."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, gate, gated_env, wait_until
from rnnmem.rundir.paths import RunDir
from rnnmem.rundir.record import read_probe_arrays, read_record

RUN = ("logger=none", "task.seq_len=4", "model.hidden_size=4", "data.val_size=32",
       "data.test_size=32", "trainer.max_steps=10", "trainer.val_every_n_steps=5",
       "trainer.log_every_n_steps=5", "probe.every_n_steps=5", "trainer.progress_bar=false")


def start(run_dir: Path, cache: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rnnmem.train", *RUN, f"hydra.run.dir={run_dir}",
         f"data.cache_dir={cache}", *extra], cwd=ROOT, env=gated_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def temporaries(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if path.name.endswith(".tmp"))


@pytest.mark.slow
def test_kills_inside_atomic_writes_leave_temporaries_that_the_next_start_removes(
        tmp_path, tmp_path_factory):
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    # SIGKILL inside the rename of a held-out set: its folder, written whole, stays behind
    gates = tmp_path_factory.mktemp("heldout")
    proc = start(run_dir, cache, *gate("HoldAtRename", gates, pattern="adding-val-*"))
    wait_until(lambda: (gates / "held").exists(), "the held-out set's rename", proc)
    proc.kill()
    proc.wait(timeout=60)
    (heldout,) = temporaries(cache)
    assert heldout.is_dir() and heldout.name.startswith(".adding-val-")
    assert sum(path.stat().st_size for path in heldout.rglob("*")) > 0

    # the next start removes it; SIGKILL inside the rename of record.json
    gates = tmp_path_factory.mktemp("record")
    proc = start(run_dir, cache, *gate("HoldAtRename", gates, pattern="record.json"))
    wait_until(lambda: (gates / "held").exists(), "record.json's rename", proc)
    assert not heldout.exists() and not temporaries(cache)
    proc.kill()
    proc.wait(timeout=60)
    (record_tmp,) = temporaries(run_dir)
    assert record_tmp.name.startswith(".record.json.") and record_tmp.stat().st_size > 0
    assert not RunDir(run_dir).record.exists() and read_probe_arrays(run_dir)

    # the next start removes it and trains; SIGTERM in the forgetting pass, after training
    gates = tmp_path_factory.mktemp("forgetting")
    proc = start(run_dir, cache, *gate("PauseInCall", gates,
                                       target="rnnmem.training.lifecycle.forgetting_record"))
    wait_until(lambda: (gates / "paused").exists(), "the forgetting pass", proc)
    assert not record_tmp.exists()
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stdout[-2000:] + stderr[-2000:]
    assert f"removed {record_tmp}, left by an interrupted write" in stdout
    assert ("received SIGTERM after training: finishing the run's test and record, then "
            "stopping") in stdout
    assert "checkpointing" not in stdout + stderr and "Traceback" not in stderr
    record = read_record(run_dir)
    assert record["status"] == "finished" and "forgetting" in record
    assert not RunDir(run_dir).checkpoint.exists()
    assert not temporaries(run_dir) and not temporaries(cache)


@pytest.mark.slow
def test_a_second_ctrl_c_while_the_heldout_set_builds_records_failed_in_one_line(
        tmp_path, gate_dir):
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    proc = start(run_dir, cache, *gate("HoldAtRename", gate_dir, pattern="adding-val-*"))
    wait_until(lambda: (gate_dir / "held").exists(), "the held-out set's rename", proc)
    proc.send_signal(signal.SIGINT)
    wait_until(lambda: (gate_dir / "signalled").exists(), "the first Ctrl-C handled", proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert stderr.strip() == ("rnnmem: error: run lstm-d1-uni-T4-s0 interrupted (Ctrl-C) where "
                              "it could not checkpoint; rerun the same command to train it")
    record = read_record(run_dir)
    assert (record["status"], record["error"]) == ("failed", "interrupted")
    assert not temporaries(cache)  # the build's own folder, removed as it unwound
