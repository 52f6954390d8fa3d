"""Sweeps through a real SLURM cluster (hydra/launcher=slurm, via submitit).

`.ci/start-slurm` starts a single-node cluster on this host (slurmctld + slurmd, munge, one
partition `debug`); without one these tests skip, saying why. A job requeued mid-run
(`scontrol requeue`: SIGTERM now, the job back in the queue) checkpoints, resumes from its
checkpoint when SLURM starts it again, and ends with the test metrics of an uninterrupted run
and one W&B run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, compose_config, gate, gated_env, paused_steps, run_cli, wait_until
from rnnmem.rundir.identity import place_id, wandb_run_id
from rnnmem.rundir.paths import RunDir
from rnnmem.rundir.record import read_record
from rnnmem.train import train_one

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

PARTITION = os.environ.get("RNNMEM_SLURM_PARTITION", "debug")
ON_SLURM = (
    "hydra/launcher=slurm", f"hydra.launcher.partition={PARTITION}",
    "hydra.launcher.gpus_per_node=0", "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=2", "hydra.launcher.timeout_min=10",
)
# long enough (a few seconds of training) to be requeued half-way; a checkpoint at every batch
# end (bookkeeping, not in the hash), so that the gate pauses the job at its first batch end
REQUEUE_RUN = (
    "task=adding", "model.cell=lstm", "task.seq_len=6", "model.hidden_size=8", "data.batch_size=8",
    "data.val_size=32", "data.test_size=32", "trainer.max_steps=3000",
    "trainer.val_every_n_steps=500", "trainer.log_every_n_steps=50", "probe.every_n_steps=500",
    "probe.batch_size=8", "trainer.progress_bar=false", "threads=1",
)


def cluster_problem() -> str | None:
    """Why no SLURM cluster answers here, or None when partition PARTITION is up."""
    try:
        out = subprocess.run(["sinfo", "-h", "-p", PARTITION, "-o", "%a %t"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"no SLURM client: {err}"
    if out.returncode != 0 or not out.stdout.strip():
        return f"no SLURM partition {PARTITION!r} answers (.ci/start-slurm starts one)"
    if not any(state in out.stdout for state in ("idle", "mix", "alloc")):
        return f"SLURM partition {PARTITION!r} has no usable node: {out.stdout.strip()}"
    return None


@pytest.fixture(scope="module", autouse=True)
def slurm_cluster() -> None:
    problem = cluster_problem()
    if problem:
        pytest.skip(problem)


def records(sweep_dir: Path) -> dict[str, dict]:
    return {str(p.parent.relative_to(sweep_dir)): json.loads(p.read_text())
            for p in sorted(sweep_dir.rglob("record.json"))}


def test_smoke_sweep_runs_through_slurm(tmp_path):
    result = run_cli("+experiment=smoke", *ON_SLURM, f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    found = records(tmp_path)
    assert sorted(job.rsplit("-", 1)[0] for job in found) == [
        "adding/gru-d1-uni-T6-s0", "adding/rnn-d1-uni-T6-s0"]
    assert all(r["status"] == "finished" for r in found.values())
    job_ids = [p.name for p in (tmp_path / ".submitit").iterdir() if p.name.isdigit()]
    assert len(job_ids) == 1, "one SLURM array of two jobs"
    assert "[sweep] 2/2 recorded: 2 finished" in result.stdout


@pytest.mark.parametrize("right_after_save", [False, True], ids=["mid-run", "before-logging"])
def test_requeued_job_resumes_from_its_checkpoint_with_one_wandb_run(tmp_path, gate_dir,
                                                                     right_after_save):
    """SLURM's SIGTERM reaches the job mid-run, or right after a checkpoint with the batch's
    logging still to do (W&B's service, signalled too, is gone by then: `RunLogger`)."""
    reference = train_one(compose_config("logger=none", *REQUEUE_RUN), tmp_path / "reference")
    sweep_dir = tmp_path / "sweep"
    # the gate pauses the job after its first checkpoint until SIGTERM; not again once requeued
    sweep = subprocess.Popen(
        [sys.executable, "-m", "rnnmem.train", "+experiment=smoke", "logger=wandb",
         *REQUEUE_RUN, "checkpoint.every_minutes=1e-9", *ON_SLURM,
         f"hydra.sweep.dir={sweep_dir}",
         *gate("PauseAfterFirstCheckpoint", gate_dir, right_after_save=right_after_save)],
        cwd=ROOT, env=gated_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: len(paused_steps(gate_dir)) == 1, "the job paused", sweep)
    ((paused_run, paused),) = paused_steps(gate_dir).items()
    (job_id,) = [p.name for p in (sweep_dir / ".submitit").iterdir() if p.name.isdigit()]
    subprocess.run(["scontrol", "requeue", job_id], check=True)
    # SLURM holds a requeued job for about two minutes before it may start again; release it
    wait_until(lambda: "JobState=PENDING" in subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout,
        "the job requeued", sweep)
    subprocess.run(["scontrol", "update", f"jobid={job_id}", "StartTime=now"], check=True)
    stdout, stderr = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, stderr[-3000:]

    (run_dir,) = [p for p in sweep_dir.glob("adding/*") if p.is_dir()]
    final = read_record(run_dir)
    assert final["config_hash"] == reference["config_hash"]
    assert final["status"] == "finished" and final["train_steps"] == 3000
    assert run_dir.name == paused_run and paused == 50, "paused after its first checkpoint"
    assert final["resumed_from_step"] == 100, "stopped at the next batch end, and resumed there"
    log = (sweep_dir / ".submitit" / job_id / f"{job_id}_0_log.out").read_text()
    assert "received SIGTERM" in log
    assert f"preempted at step {final['resumed_from_step']} by SIGTERM" in log
    for key in ("test_loss", "test_mse"):
        assert final[key] == reference[key], f"{key}: resumed != uninterrupted"
    assert final["curves"] == reference["curves"]
    starts = sorted((sweep_dir / "wandb").glob("offline-run-*"))
    assert len(starts) == 2, "two starts of one job..."
    ids = {p.name.rsplit("-", 1)[1] for p in starts}
    assert ids == {wandb_run_id(final["config_hash"], sweep_dir.name, place_id(sweep_dir))}, \
        "...one W&B run"
    assert not (run_dir / RunDir.CHECKPOINT).exists()
