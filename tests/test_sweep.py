"""`make sweep` machinery: parallel jobs, isolation, failures, resume, the submitit path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, gate, gated_env, run_cli, wait_until
from rnnmem.reporting.records import load_sweep, summary_frame
from test_wandb_logging import inspect_records

pytestmark = pytest.mark.slow


def records(sweep_dir: Path) -> dict[str, dict]:
    """Records by run directory, `<task>/<name>-<hash>`."""
    return {
        str(p.parent.relative_to(sweep_dir)): json.loads(p.read_text())
        for p in sorted(sweep_dir.rglob("record.json"))
    }


def by_name(found: dict[str, dict]) -> dict[str, dict]:
    """The same records by `<task>/<name>` (the run directory without its config hash)."""
    return {job.rsplit("-", 1)[0]: record for job, record in found.items()}


def test_smoke_sweep_with_joblib_gives_one_record_and_one_wandb_run_per_job(tmp_path):
    result = run_cli("+experiment=smoke", "logger=wandb", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert "Joblib.Parallel(n_jobs=-1" in result.stdout + result.stderr
    found = records(tmp_path)
    assert sorted(by_name(found)) == ["adding/gru-d1-uni-T6-s0", "adding/rnn-d1-uni-T6-s0"]
    assert all(r["status"] == "finished" for r in found.values())
    runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 2, "each job is its own W&B run, all under <sweep>/wandb"
    names = []
    for run_dir in runs:
        (run,) = [r["run"] for r in inspect_records(run_dir) if r["type"] == "run"]
        assert run["run_group"] == tmp_path.name
        names.append(run["display_name"])
    assert sorted(names) == sorted(r["name"] for r in found.values())
    for job, record in found.items():
        assert job.split("/")[1] == f"{record['name']}-{record['config_hash'][:8]}"
        assert record["torch_threads"] == 1, "n_jobs=-1: one job per core, one thread each"
    assert "[sweep] 2/2 done, 0 failed" in result.stdout
    summary = (tmp_path / "summary.md").read_text()
    assert "rnn" in summary and "gru" in summary and "finished" in summary
    assert len(load_sweep(tmp_path)) == 2


def test_one_failing_job_is_recorded_and_named_while_the_rest_finish(tmp_path):
    # forget_bias applies to LSTMs only: the rnn job fails at model construction.
    result = run_cli("+experiment=smoke", "model.cell=rnn,lstm", "model.forget_bias=1.0",
                     f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 1
    found = by_name(records(tmp_path))
    assert found["adding/lstm-d1-uni-T6-s0"]["status"] == "finished"
    failed = found["adding/rnn-d1-uni-T6-s0"]
    assert failed["status"] == "failed" and "forget_bias" in failed["error"]
    assert "[sweep] failed: " in result.stderr and "rnn-d1-uni-T6-s0" in result.stderr
    assert "1 finished, 0 diverged, 1 failed" in result.stdout
    summary = summary_frame(load_sweep(tmp_path))
    assert dict(zip(summary["cell"], summary["status"], strict=True)) == {
        "lstm": "finished", "rnn": "failed"}


def test_killed_sweep_resumes_to_completion_without_rerunning_finished_jobs(tmp_path, gate_dir):
    sweep_dir = tmp_path / "sweep"
    args = ["+experiment=smoke", "model.cell=rnn,lstm,gru", "task.seq_len=6,8",
            "hydra.launcher.n_jobs=1", "trainer.max_steps=60", f"hydra.sweep.dir={sweep_dir}"]
    # the gate holds the sweep once two jobs have ended (it writes `held`), until it is killed
    first = subprocess.Popen(
        [sys.executable, "-m", "rnnmem.train", *args, *gate("HoldAfterJobs", gate_dir, jobs=2)],
        cwd=ROOT, env=gated_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    wait_until((gate_dir / "held").exists, "two jobs ended", first)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    before = {job: (sweep_dir / job / "record.json").read_bytes() for job in records(sweep_dir)}
    assert len(before) == 2, "killed after two of six jobs"

    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    after = records(sweep_dir)
    assert len(after) == 6 and all(r["status"] == "finished" for r in after.values())
    for job, raw in before.items():
        assert (sweep_dir / job / "record.json").read_bytes() == raw, f"{job} ran twice"
    assert result.stdout.count("already holds a complete record") == 2


def test_submitit_local_executor_runs_the_smoke_sweep(tmp_path):
    result = run_cli("+experiment=smoke", "hydra/launcher=slurm_local",
                     f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    found = records(tmp_path)
    assert sorted(by_name(found)) == ["adding/gru-d1-uni-T6-s0", "adding/rnn-d1-uni-T6-s0"]
    assert all(r["status"] == "finished" for r in found.values())
    assert list((tmp_path / ".submitit").glob("*")), "jobs went through submitit"


def test_bad_value_shared_by_every_job_stops_the_sweep_before_any_job(tmp_path):
    result = run_cli("+experiment=smoke", "model.depth=0", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip() == "rnnmem: error: model.depth=0 must be >= 1"
    assert records(tmp_path) == {}


def test_steps_per_batch_that_misses_a_schedule_stops_the_sweep_before_any_job(tmp_path):
    result = run_cli("+experiment=smoke", "trainer.steps_per_batch=3",
                     f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "rnnmem: error: trainer.steps_per_batch=3 does not divide trainer.max_steps=20: every "
        "schedule must fall on a batch end")
    assert records(tmp_path) == {}
