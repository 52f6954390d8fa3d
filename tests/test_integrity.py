"""Nothing stale, nothing mixed, nothing orphaned, tried for real: a generator edited in a copied
package tree, one run directory given two configs, a local sweep stopped by SIGINT and SIGTERM
(its parent, then its process group) with a walk of /proc for what is left, two sweep
directories of one name, swept bad values beside good ones, failed runs among the figures, and a
read-only bind mount."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_from_disk
from matplotlib.figure import Figure

from conftest import ROOT, compose_config, gate, gated_env, paused_steps, run_cli, wait_until
from make_figures import main as make_figures_main
from rnnmem.reporting.figures import drawing
from rnnmem.rundir.code import source_digest
from rnnmem.rundir.identity import place_id
from rnnmem.rundir.paths import PLACE_FILE, RunDir
from rnnmem.rundir.record import read_record, write_record
from rnnmem.train import train_one
from rnnmem.training.callbacks import LearningCurves
from test_figures import texts, write_run

TINY = ("logger=none", "task.seq_len=6", "model.hidden_size=8", "data.val_size=32",
        "data.test_size=32", "trainer.max_steps=20", "trainer.val_every_n_steps=10",
        "trainer.log_every_n_steps=5", "probe.every_n_steps=10", "trainer.progress_bar=false",
        "threads=1")


# --- 1. code identity: a generator edited in a copied package tree ------------------------------


@pytest.mark.slow
def test_generator_edit_in_a_copied_tree_is_caught_and_never_reuses_the_cached_sets(tmp_path):
    tree = tmp_path / "tree"
    for part in ("src", "conf"):
        shutil.copytree(ROOT / part, tree / part, ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(tree / "src"), RNNMEM_CACHE=str(tmp_path / "cache"),
               PYTHONWARNINGS="ignore")
    run_dir, cache = tmp_path / "run", tmp_path / "cache" / "heldout"

    def train(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rnnmem.train", *TINY, *extra,
                               f"hydra.run.dir={run_dir}"], cwd=tree, env=env,
                              capture_output=True, text=True, timeout=600)

    assert train().returncode == 0
    first = read_record(run_dir)
    package = tree / "src" / "rnnmem"
    assert first["source_digest"] == source_digest.__wrapped__(package)
    first_sets = sorted(p.name for p in cache.iterdir())
    assert len(first_sets) == 2, "val and test"

    drawing_py = package / "reporting" / "figures" / "drawing.py"  # a figure tweak is not a
    drawing_py.write_text(drawing_py.read_text() + "\n# a figure tweak\n")  # results' change
    assert source_digest.__wrapped__(package) == first["source_digest"]

    adding = package / "tasks" / "adding.py"  # values x0.5, uncommitted, no version bumped
    source = adding.read_text()
    assert source.count("values = torch.rand(batch_size") == 1
    adding.write_text(source.replace("values = torch.rand(batch_size",
                                      "values = 0.5 * torch.rand(batch_size"))
    raw = (run_dir / "record.json").read_bytes()
    refused = train()
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"rnnmem: error: {run_dir} holds a finished record made by other "
                           f"code (commit unknown, source {first['source_digest'][:8]}; now ")
    assert line.endswith("set on_code_change=rerun to train again or on_code_change=keep to "
                         "keep it")
    assert (run_dir / "record.json").read_bytes() == raw

    kept = train("on_code_change=keep")
    assert kept.returncode == 0 and (run_dir / "record.json").read_bytes() == raw
    rerun = train("on_code_change=rerun")
    assert rerun.returncode == 0, rerun.stderr
    second = read_record(run_dir)
    assert second["config_hash"] == first["config_hash"], "the same config..."
    assert second["source_digest"] != first["source_digest"], "...made by other code"
    new_sets = sorted(p.name for p in cache.iterdir() if p.name not in first_sets)
    assert len(new_sets) == 2, "the changed generator built its own held-out sets"
    old_test, new_test = (load_from_disk(str(cache / name)).with_format("numpy")[:]["y"]
                          for name in (*[n for n in first_sets if "-test-" in n],
                                       *[n for n in new_sets if "-test-" in n]))
    assert (new_test == old_test * 0.5).all(), "the new set is the halved generator's"


# --- 2. a run directory belongs to one config ---------------------------------------------------


@pytest.mark.slow
def test_one_run_dir_given_two_configs_refuses_the_other_and_touches_nothing(
        tmp_path, monkeypatch, stop_signal_reset):
    finished = tmp_path / "finished"
    train_one(compose_config(*TINY), finished)
    raw = {name: (finished / name).read_bytes() for name in ("record.json", "probe.npz")}
    other = run_cli(*TINY, "model.hidden_size=9", f"hydra.run.dir={finished}")
    assert other.returncode == 2
    assert other.stderr.strip() == (
        f"rnnmem: error: {finished} holds the finished record of another config (differs in "
        "model.hidden_size); it is left untouched: give this run its own hydra.run.dir")
    assert {name: (finished / name).read_bytes() for name in raw} == raw

    # a run preempted at step 10 (SIGTERM sent to this process at that step)
    original = LearningCurves.on_train_batch_end

    def signalling(self, trainer, *args):
        original(self, trainer, *args)
        if trainer.global_step == 10:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(LearningCurves, "on_train_batch_end", signalling)
    stopped_dir = tmp_path / "stopped"
    assert train_one(compose_config(*TINY), stopped_dir)["status"] == "preempted"
    monkeypatch.setattr(LearningCurves, "on_train_batch_end", original)
    stop_signal_reset.received = None
    checkpoint = (stopped_dir / RunDir.CHECKPOINT).read_bytes()
    lr = run_cli(*TINY, "optim.lr=0.01", f"hydra.run.dir={stopped_dir}")
    assert lr.returncode == 2
    assert lr.stderr.strip() == (
        f"rnnmem: error: {stopped_dir} holds the preempted record of another config (differs "
        "in optim.lr); it is left untouched: give this run its own hydra.run.dir")
    (stopped_dir / "record.json").unlink()  # as if killed before its record: the checkpoint's
    wider = run_cli(*TINY, "model.hidden_size=24", f"hydra.run.dir={stopped_dir}")
    assert wider.returncode == 2
    assert wider.stderr.strip() == (
        f"rnnmem: error: {stopped_dir} holds the checkpoint of another config (differs in "
        "model.hidden_size); it is left untouched: give this run its own hydra.run.dir")
    assert (stopped_dir / RunDir.CHECKPOINT).read_bytes() == checkpoint, "never deleted"
    same = run_cli(*TINY, f"hydra.run.dir={stopped_dir}")
    assert same.returncode == 0, same.stderr
    resumed = read_record(stopped_dir)
    assert resumed["status"] == "finished" and resumed["resumed_from_step"] == 10


# --- 3. stopping a local sweep ------------------------------------------------------------------

# three jobs on two workers, long enough to be stopped half-way; a checkpoint at every batch end
# (bookkeeping, not in the hash), so that the gate pauses each job at its first batch end
STOP_SWEEP = ("+experiment=smoke", "model.cell=rnn,gru,lstm", "hydra.launcher.n_jobs=2",
              "trainer.max_steps=1000", "trainer.val_every_n_steps=100",
              "trainer.log_every_n_steps=50", "probe.every_n_steps=100", "threads=1",
              "checkpoint.every_minutes=1e-9")


def process_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, session id, start time) of every process, from /proc."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        table[int(stat.parent.name)] = (int(fields[1]), int(fields[3]), fields[19])
    return table


def sweep_processes(root: int) -> dict[int, str]:
    """The processes of the sweep started as `root` (a session leader): its session and its
    descendants, pid -> start time."""
    table = process_table()
    found = {pid for pid, (_, sid, _) in table.items() if sid == root} | {root}
    grew = True
    while grew:
        more = {pid for pid, (ppid, _, _) in table.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return {pid: table[pid][2] for pid in found if pid in table}


def alive(processes: dict[int, str]) -> list[int]:
    table = process_table()
    return [pid for pid, start in processes.items()
            if pid in table and table[pid][2] == start]


def start_sweep(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "sweep.out"
    proc = subprocess.Popen([sys.executable, "-m", "rnnmem.train", *args], cwd=ROOT,
                            env=gated_env(), stdout=log.open("w"), stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    return proc, log


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "target", "logger"), [
    (signal.SIGTERM, "parent", "wandb"),
    (signal.SIGINT, "group", "none"),
])
def test_stopping_a_local_sweep_checkpoints_every_job_leaves_no_process_and_resumes(
        tmp_path, gate_dir, signum, target, logger):
    sweep_dir = tmp_path / "sweep"
    args = (*STOP_SWEEP, f"logger={logger}", f"hydra.sweep.dir={sweep_dir}")
    # each job pauses after its first checkpoint until the stop signal reaches it
    proc, log = start_sweep(tmp_path, *args, *gate("PauseAfterFirstCheckpoint", gate_dir))
    wait_until(lambda: len(paused_steps(gate_dir)) == 2, "two jobs paused", proc)
    processes = sweep_processes(proc.pid)
    assert len(processes) >= 3, "the parent and its two workers"
    if target == "parent":
        proc.send_signal(signum)
    else:
        os.killpg(proc.pid, signum)
    assert proc.wait(timeout=300) == 128 + signum
    output = log.read_text()
    assert "Traceback" not in output
    assert f"[sweep] stopped by {signal.Signals(signum).name}; rerun the same command" in output
    assert "[sweep] 2/3 recorded: 0 finished, 0 diverged, 0 failed, 2 preempted" in output
    wait_until(lambda: not alive(processes), "the sweep's processes gone", timeout=60)
    stopped = {p.parent.name: read_record(p.parent) for p in sweep_dir.rglob("record.json")}
    assert [r["status"] for r in stopped.values()] == ["preempted", "preempted"]
    assert {r["signal"] for r in stopped.values()} == {signal.Signals(signum).name}
    # paused after the first checkpoint (the first batch end: 50 optimiser steps per batch),
    # stopped at the next batch end
    assert paused_steps(gate_dir) == dict.fromkeys(stopped, 50)
    for name, record in stopped.items():
        assert record["train_steps"] == 100
        assert (sweep_dir / "adding" / name / RunDir.CHECKPOINT).exists()

    rerun = run_cli(*args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    final = {p.parent.name: read_record(p.parent) for p in sweep_dir.rglob("record.json")}
    assert len(final) == 3 and all(r["status"] == "finished" for r in final.values())
    for name, record in stopped.items():
        assert final[name]["resumed_from_step"] == record["train_steps"]
    if logger == "wandb":
        starts = list((sweep_dir / "wandb").glob("offline-run-*"))
        assert len(starts) == 5, "two starts of each stopped job, one of the third"
        assert {p.name.rsplit("-", 1)[1] for p in starts} == {
            r["wandb_run_id"] for r in final.values()}, "one W&B run per job"


@pytest.mark.slow
def test_a_second_signal_stops_the_sweep_at_once_leaving_no_process(tmp_path, gate_dir):
    sweep_dir = tmp_path / "sweep"
    # each job holds after its first checkpoint until killed: only the second signal ends it
    proc, log = start_sweep(tmp_path, *STOP_SWEEP, "logger=none", f"hydra.sweep.dir={sweep_dir}",
                            *gate("PauseAfterFirstCheckpoint", gate_dir, forever="true"))
    wait_until(lambda: len(paused_steps(gate_dir)) == 2, "two jobs paused", proc)
    processes = sweep_processes(proc.pid)
    proc.send_signal(signal.SIGINT)
    wait_until(lambda: "[sweep] received SIGINT:" in log.read_text(), "the first signal seen",
               proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert "[sweep] received SIGINT again: stopping at once" in log.read_text()
    wait_until(lambda: not alive(processes), "the sweep's processes gone", timeout=60)
    assert not list(sweep_dir.rglob("record.json")), "no job got to record"
    assert len(list(sweep_dir.glob(f"adding/*/{RunDir.CHECKPOINT}"))) == 2, \
        "the jobs resume from their last checkpoints"


def test_a_stopped_worker_handles_every_later_signal():
    """A sweep worker that was stopped once ends at the next signal (exit 128 + signal)."""
    code = ("import os, signal; from rnnmem.training.preemption import STOP; STOP.worker = True; "
            "STOP.install(); os.kill(os.getpid(), signal.SIGTERM); assert STOP.received; "
            "STOP.restore(); print('stopped once', flush=True); "
            "os.kill(os.getpid(), signal.SIGTERM); print('still here')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 128 + signal.SIGTERM
    assert result.stdout.split("\n")[0] == "stopped once" and "still here" not in result.stdout


# --- 4 and 5. W&B ids per place; bad swept values fail alone ------------------------------------


@pytest.mark.slow
def test_swept_bad_values_fail_alone_and_two_sweeps_of_one_name_log_apart(tmp_path):
    sweeps = tmp_path / "a" / "sw", tmp_path / "b" / "sw"
    bad = run_cli("+experiment=smoke", "model.cell=rnn", "logger=wandb", "optim.lr=0.01,abc",
                  "task=adding,nosuch", "seed=0,-1", f"hydra.sweep.dir={sweeps[0]}")
    assert bad.returncode == 1
    assert "Traceback" not in bad.stdout + bad.stderr
    assert bad.stdout.count(" fails: ") == 6, "one line per job that does not compose"
    assert ("[sweep] job task=adding optim.lr=abc seed=0 fails: Error merging override "
            "optim.lr=abc: Value 'abc' of type 'str' could not be converted to Float\n"
            ) in bad.stdout
    assert ("[sweep] job task=nosuch optim.lr=0.01 seed=0 fails: In 'train': Could not find "
            "'task/nosuch'; options of task: adding, copy, mqar, selective_copy\n") in bad.stdout
    assert "[sweep] 8/8 recorded: 1 finished, 0 diverged, 7 failed" in bad.stdout
    found = {str(p.parent.relative_to(sweeps[0])): read_record(p.parent)
             for p in sweeps[0].rglob("record.json")}
    (good,) = [r for r in found.values() if r["status"] == "finished"]
    (negative,) = [r for r in found.values() if r.get("name") == "rnn-d1-uni-T6-s-1"]
    assert negative["status"] == "failed"
    assert negative["error"] == "seed=-1 must satisfy 0 <= seed < 4294967296"

    other = run_cli("+experiment=smoke", "model.cell=rnn", "logger=wandb", "optim.lr=0.01",
                    f"hydra.sweep.dir={sweeps[1]}")
    assert other.returncode == 0, other.stderr
    (twin,) = [read_record(p.parent) for p in sweeps[1].rglob("record.json")]
    assert twin["config_hash"] == good["config_hash"], "the same config, in a sweep of one name"
    assert place_id(sweeps[0]) != place_id(sweeps[1])
    assert twin["wandb_run_id"] != good["wandb_run_id"], "another place, another W&B run"
    for sweep, record in zip(sweeps, (good, twin), strict=True):
        (run,) = (sweep / "wandb").glob("offline-run-*")
        assert run.name.endswith(f"-{record['wandb_run_id']}")


def test_place_id_is_written_once_and_differs_between_directories(tmp_path):
    first = place_id(tmp_path / "a")
    assert place_id(tmp_path / "a") == first == (tmp_path / "a" / PLACE_FILE).read_text()
    assert place_id(tmp_path / "b") != first
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [PLACE_FILE]


@pytest.mark.skipif(subprocess.run([sys.executable, "-c", "import torch, sys; "
                                    "sys.exit(torch.cuda.is_available())"]).returncode,
                    reason="this machine has a GPU")
def test_gpu_asked_for_on_a_cpu_machine_stops_the_sweep_in_one_line(tmp_path):
    result = run_cli("+experiment=smoke", "trainer.accelerator=gpu",
                     f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "rnnmem: error: trainer.accelerator=gpu but this machine has no usable CUDA GPU "
        "(torch.cuda.is_available() is False); use trainer.accelerator=cpu or auto")
    assert not list(tmp_path.rglob("record.json"))


# --- 6. figures show what finished --------------------------------------------------------------


def test_a_failed_depth_zero_run_never_chooses_the_figures_and_strays_are_listed(
        tmp_path, monkeypatch):
    for cell in ("rnn", "gru"):
        for seed in (0, 1):
            write_run(tmp_path, "adding", cell, 4, seed)
    write_record(tmp_path / "adding" / "rnn-d0-uni-T4-s0", {
        "status": "failed", "solved": False, "error": "model.depth=0 must be >= 1",
        "config": {"task": {"name": "adding", "seq_len": 4}, "seed": 0,
                   "model": {"cell": "rnn", "depth": 0, "bidirectional": False}}})
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    (tmp_path / "adding" / "lstm-d1-uni-T4-s0").mkdir()
    (tmp_path / "adding" / "lstm-d1-uni-T4-s0" / RunDir.CHECKPOINT).write_bytes(b"x")
    drawn: dict[str, Figure] = {}

    def keep(fig: Figure, stem: Path, formats: tuple[str, ...] = ("pdf", "png")) -> list[Path]:
        drawn[Path(stem).name] = fig
        return [Path(f"{stem}.png")]

    monkeypatch.setattr(drawing, "save", keep)
    monkeypatch.setattr(drawing, "close", lambda fig: None)
    assert make_figures_main([str(tmp_path)]) == 0
    assert "fig1_gradient_vanishing_d1_uni" in drawn and not any("d0" in s for s in drawn)
    for stem in ("fig2_memory_capacity", "fig3_gradient_flow", "fig5_gate_dynamics",
                 "fig6_learning_curves"):
        titles = " ".join(ax.get_title() for ax in drawn[stem].axes)
        assert "0 layer" not in titles + texts(drawn[stem]), stem
    fig2 = drawn["fig2_memory_capacity"]
    labels = {ln.get_label() for ax in fig2.axes for ln in ax.get_lines()}
    assert {"vanilla RNN", "GRU"} <= labels, "the finished depth-1 runs are drawn"
    report = (tmp_path / "figures" / "report.md").read_text()
    assert "adding/rnn-d0-uni-T4-s0 | model.depth=0 must be >= 1" in report
    assert report.endswith(
        "## Directories that are not runs\n\n"
        "- `adding/lstm-d1-uni-T4-s0/`: a checkpoint without a record: a job stopped before it "
        "recorded; rerunning the sweep resumes it\n"
        "- `figures/`: these figures\n"
        "- `notes/`: no record.json: not a run\n")


# --- 7. read-only storage -------------------------------------------------------------------


@pytest.mark.slow
def test_figures_and_a_sweep_resume_on_read_only_storage_fail_in_one_line(read_only):
    sweep, make_read_only = read_only
    write_run(sweep, "adding", "rnn", 4, 0)
    make_read_only()
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, str(ROOT / "experiments" / "make_figures.py"),
                             str(sweep)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"make_figures: error: cannot write {sweep}/figures: [Errno 30] Read-only file system")

    resume = run_cli("+experiment=smoke", f"hydra.sweep.dir={sweep}")
    assert resume.returncode == 1
    (line,) = resume.stderr.strip().splitlines()
    assert line.startswith(f"rnnmem: error: cannot write the sweep directory {sweep}: "
                           f"[Errno 30] Read-only file system: {sweep}/{PLACE_FILE}")
