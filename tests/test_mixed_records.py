"""`make figures` on directories that hold more than one sweep's records: records that differ
in a key that was not swept, or in the code that made them, are never pooled as seeds; a
damaged probe.npz skips its run in one line and a resumed sweep trains it again; a job that is
running is said to be; a corrupt multirun.yaml is one warning; figures are written whole or not
at all, whatever stops them; `make sweep` and `make figures` take directories with spaces,
commas and non-ASCII letters."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import table1
from conftest import ROOT, SCRIPTS, wait_until
from make_figures import main, slices
from rnnmem.reporting.differences import differing_keys
from rnnmem.reporting.expected import sweep_runs
from rnnmem.reporting.records import find_runs, load_sweep
from rnnmem.rundir.lock import RunLock
from rnnmem.rundir.paths import RunDir, SweepDir
from rnnmem.rundir.record import read_probe_arrays, read_record, write_record
from test_figures import make_sweep


def make(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(["make", "-s", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)


def section(report: str, heading: str) -> str:
    """The text of report.md from `heading` to the next heading."""
    start = report.index(heading)
    ends = [i for i in (report.find("\n#", start + 1),) if i > 0]
    return report[start:min(ends, default=len(report))]


def run_of(sweep: Path, cell: str, hidden: int) -> Path:
    (found,) = [run for run in find_runs(sweep) if read_record(run)["config"]["model"]["cell"]
                == cell and read_record(run)["config"]["model"]["hidden_size"] == hidden]
    return found


@pytest.mark.slow
def test_a_rerun_beside_a_sweep_is_grouped_and_damage_is_skipped_then_repaired(tmp_path):
    sweep = tmp_path / "a b,ü"  # a space, a comma and a non-ASCII letter, through make
    for args in ((), ("ARGS=model.hidden_size=16",)):
        result = make("sweep", "EXPERIMENT=smoke", f"SWEEP_DIR={sweep}", *args)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert len(find_runs(sweep)) == 4  # rnn and gru at hidden sizes 8 and 16
    damaged, configless = run_of(sweep, "gru", 16), run_of(sweep, "rnn", 16)
    kept = {run: RunDir(run).record.read_bytes() for run in (run_of(sweep, "rnn", 8),
                                                              run_of(sweep, "gru", 8))}
    probe = RunDir(damaged).probe
    probe.write_bytes(probe.read_bytes()[: probe.stat().st_size // 2])
    record = read_record(configless)
    write_record(configless, {k: v for k, v in record.items() if k != "config"})
    running = sweep / "adding" / "rnn-d1-uni-T6-s1-0123abcd"  # a job that has not recorded yet
    (running / ".hydra").mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from rnnmem.rundir.lock import RunLock; "
         "assert RunLock(sys.argv[1]).acquire(); print('held', flush=True); sys.stdin.read()",
         str(running)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    try:
        result = make("figures", f"SWEEP={sweep}")
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if str(damaged) in line] == [
        f"rnnmem.reporting.expected: warning: skipping {damaged}: corrupt probe arrays {probe}: "
        "BadZipFile: File is not a zip file; a resumed sweep trains it again"]
    out = SweepDir(sweep).figures
    report = (out / "report.md").read_text()
    assert ("Runs: 4 (2 finished, 0 failed, 0 diverged, 1 damaged, 1 missing); the sweep's last "
            "command (`multirun.yaml`) has 2 grid points, and 2 records in the directory are of "
            "other configs.") in report
    assert ("Grouped by `model.hidden_size` (records differ in it at one grid point: 8, 16). "
            "Each figure is drawn once per combination of their values, in its own folder "
            "(`model.hidden_size=8/`, `model.hidden_size=16/`)") in report
    assert (out / "model.hidden_size=8" / "fig2_memory_capacity.png").stat().st_size > 0
    assert (out / "model.hidden_size=16" / "fig2_memory_capacity.png").stat().st_size > 0
    assert "adding/gru-d1-uni-T6-s0" in section(report, "### Damaged")
    assert f"corrupt probe arrays {probe}" in section(report, "### Damaged")
    assert "- adding/rnn-d1-uni-T6-s0" in section(report, "### Missing")  # its record: no config
    assert (f"- `adding/{running.name}/`: a job running now (its lock is held): it records when "
            "it ends") in report
    table = (out / "table1.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith(("| vanilla RNN", "| GRU"))]
    assert len(rows) == 4  # each cell once per hidden size, never the two averaged
    assert all("K-" not in row for row in rows)  # one parameter count per row

    # the same command again: trains the damaged run and the one without a config, no other
    result = make("sweep", "EXPERIMENT=smoke", f"SWEEP_DIR={sweep}", "ARGS=model.hidden_size=16")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert read_record(damaged)["status"] == "finished" and read_probe_arrays(damaged)
    assert read_record(configless)["config"]["model"]["hidden_size"] == 16
    assert {run: RunDir(run).record.read_bytes() for run in kept} == kept


def test_records_of_other_code_or_other_lrs_are_never_pooled(tmp_path):
    sweep = make_sweep(tmp_path / "sweep")
    for run in find_runs(sweep):  # two versions of the code: copy's records are the newer
        record = read_record(run)
        digest = ("b" if record["config"]["task"]["name"] == "copy" else "a") * 64
        write_record(run, {**record, "source_digest": digest})
    runs = sweep_runs(sweep)
    assert runs.attrs["extra_axes"] == ["source"]
    assert runs.attrs["grouping"] == [("source", "records of aaaaaaaa (12 runs), bbbbbbbb "
                                                 "(11 runs)")]
    assert [folder for folder, _ in slices(runs)] == ["source=aaaaaaaa", "source=bbbbbbbb"]
    for _, part in slices(runs):  # each version's own runs (and its grid's gaps) only
        assert part["source"].nunique() == 1

    lrs = tmp_path / "lr"  # an lr search's trials: seed 0 at two learning rates, no multirun
    for lr, name in ((1e-3, "a"), (3e-3, "b")):
        trial = lrs / "adding" / f"gru-d1-uni-T4-s0-{name}"
        shutil.copytree(sweep / "adding" / "gru-d1-uni-T4-s0", trial)
        record = read_record(trial)
        record["config"]["optim"] = {"lr": lr}
        record["test_mse"] = lr
        write_record(trial, record)
    runs = sweep_runs(lrs)
    assert runs.attrs["extra_axes"] == ["optim.lr"]
    table, _, _ = table1.table_frame(runs)
    assert list(table["optim.lr"]) == [1e-3, 3e-3]
    assert list(table["adding T=4"]) == ["0.001", "0.003"]  # never 0.002 ± 0.0014


def test_a_preempted_run_whose_lock_is_held_is_running(tmp_path):
    sweep = make_sweep(tmp_path / "sweep")
    run = sweep / "adding" / "rnn-d1-uni-T8-s1"  # the failed one, being trained again now
    lock = RunLock(run)
    assert lock.acquire()
    try:
        runs = sweep_runs(sweep)
    finally:
        lock.release()
    assert runs.set_index("run").loc["adding/rnn-d1-uni-T8-s1", "status"] == "running"
    assert sweep_runs(sweep).set_index("run").loc["adding/rnn-d1-uni-T8-s1", "status"] == "failed"


def test_a_record_without_its_config_is_corrupt_and_its_point_missing(tmp_path):
    sweep = make_sweep(tmp_path / "sweep")
    run = sweep / "adding" / "gru-d1-uni-T4-s0"
    record = json.loads(RunDir(run).record.read_text())
    write_record(run, {key: value for key, value in record.items() if key != "config"})
    with pytest.warns(UserWarning, match="a finished record without its config"):
        assert len(load_sweep(sweep)) == 22
    with pytest.warns(UserWarning):
        runs = sweep_runs(sweep)
    assert runs.set_index("run").loc["adding/gru-d1-uni-T4-s0", "status"] == "missing"


@pytest.mark.slow
def test_figures_stopped_while_saving_leave_every_file_whole(tmp_path):
    sweep = make_sweep(tmp_path / "sweep")
    assert main([str(sweep)]) == 0
    out = SweepDir(sweep).figures
    before = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    for signum in (signal.SIGINT, signal.SIGKILL):
        marker = tmp_path / f"paused-{signum}"
        proc = subprocess.Popen([sys.executable, str(SCRIPTS / "paused_figures.py"), str(sweep),
                                 str(marker)], env=dict(os.environ, PYTHONWARNINGS="ignore"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(marker.exists, "make_figures paused inside a save", proc)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=120)
        if signum == signal.SIGINT:
            assert proc.returncode == 130
            assert stderr.strip() == (f"make_figures: stopped by SIGINT: no file in {out} is "
                                      "half-written (each is this run's or the previous one's)")
            after = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*"))
                     if p.is_file()}
            assert after == before  # no truncated PNG, no PDF without its end, no temporary
        else:
            assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")], "a leftover"
    assert main([str(sweep)]) == 0  # the next start removes the killed one's temporaries
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file()} == before


@pytest.mark.parametrize("damage", ["garbage", "not a mapping", "cut short"])
def test_a_corrupt_multirun_yaml_is_one_warning_and_no_grid(tmp_path, capsys, damage):
    sweep = make_sweep(tmp_path / "sweep")
    multirun = SweepDir(sweep).multirun
    whole = multirun.read_bytes()
    multirun.write_bytes({"garbage": b"\x00\xff{[: \x01" * 40, "not a mapping": b"- a\n- b\n",
                          "cut short": whole[: len(whole) // 2]}[damage])
    runs = sweep_runs(sweep)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"rnnmem.reporting.expected: warning: ignoring {multirun}: ")
    assert runs.attrs["grid_points"] is None and len(runs) == 24  # 23 records, 1 unknown point


def test_keys_differ_only_within_one_point_of_the_figure_axes_and_never_for_bookkeeping():
    base = {"task": {"name": "adding", "seq_len": 4}, "seed": 0, "threads": 2, "name": "a",
            "model": {"cell": "gru", "depth": 1, "bidirectional": False, "hidden_size": 8},
            "optim": {"lr": 1e-3, "lr_by_cell": None}}
    seed = json.loads(json.dumps(base)) | {"seed": 1, "threads": 1, "name": "b"}
    seed["model"]["hidden_size"] = 16  # the same point, another seed and size: differs
    longer = json.loads(json.dumps(base))
    longer["task"]["seq_len"], longer["optim"]["lr"] = 8, 5e-3  # another point: not pooled
    newer = json.loads(json.dumps(base)) | {"trainer": {"flush_denormal": True}}  # a newer key
    assert differing_keys([base, seed, longer, newer]) == ["model.hidden_size"]
    by_cell = json.loads(json.dumps(base))
    by_cell["optim"]["lr_by_cell"] = {"gru": 3e-3}  # a mapping, compared as its JSON
    assert differing_keys([base, by_cell]) == ["optim.lr_by_cell"]
