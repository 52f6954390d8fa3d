"""`hparams_search=lr`: real Optuna studies through the train entry point, in fresh processes.

A study is its question (other T, other task: another study; a study of another question under
the name is refused), two searches on one directory at once both finish without losing a result,
a search stopped by SIGTERM or killed by SIGKILL resumes, and an extended one continues the very
sequence of lrs an uninterrupted search asks; storage that cannot be used is one line. The lr
window (`lr_search.md`, `lr_search.png`) holds every trial, the same bytes for the same trials."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT, gate, gated_env, run_cli, wait_until
from rnnmem.reporting.figures.lr_window import lr_window
from rnnmem.reporting.lr_window import study_summaries
from rnnmem.reporting.records import find_runs, objective_of
from rnnmem.rundir.paths import RunDir, SweepDir
from rnnmem.rundir.record import read_record, write_record
from rnnmem.sweeps.lr_search import (
    QUESTION,
    LrSearch,
    combinations,
    outcome,
    trial_seed,
    write_window,
)

optuna = pytest.importorskip("optuna")

TOY = ("task=adding", "task.seq_len=4", "model.hidden_size=4", "data.batch_size=8",
       "data.val_size=32", "data.test_size=32", "trainer.max_steps=10",
       "trainer.val_every_n_steps=5", "trainer.log_every_n_steps=5", "probe.enabled=false",
       "logger=none", "trainer.progress_bar=false", "hydra.sweeper.n_startup_trials=1")
# long enough to be stopped half-way: the gate pauses each run at step 10 of 40
LONGER = ("trainer.max_steps=40", "trainer.val_every_n_steps=10", "trainer.log_every_n_steps=10",
          "checkpoint.every_minutes=1e-9")
COMPLETE = optuna.trial.TrialState.COMPLETE
RUNNING = optuna.trial.TrialState.RUNNING


def search(sweep_dir: Path, trials: int, *extra: str, code: int = 0) -> subprocess.CompletedProcess:
    result = run_cli("hparams_search=lr", *TOY, *extra, f"hydra.sweeper.n_trials={trials}",
                     f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == code, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def start_search(sweep_dir: Path, trials: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rnnmem.train", "hparams_search=lr", *TOY, *extra,
         f"hydra.sweeper.n_trials={trials}", f"hydra.sweep.dir={sweep_dir}"],
        cwd=ROOT, env=gated_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def storage(sweep_dir: Path) -> str:
    return f"sqlite:///{SweepDir(sweep_dir).optuna_storage}"


def studies(sweep_dir: Path) -> dict[tuple[str, int], optuna.Study]:
    """The directory's studies by (task, T) of their stated question."""
    found = {}
    for summary in optuna.get_all_study_summaries(storage(sweep_dir)):
        config = summary.user_attrs[QUESTION]["config"]
        study = optuna.load_study(study_name=summary.study_name, storage=storage(sweep_dir))
        found[(config["task"]["name"], config["task"]["seq_len"])] = study
    return found


def by_number(study: optuna.Study) -> dict[int, optuna.trial.FrozenTrial]:
    return {trial.number: trial for trial in study.get_trials()}


def one_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    return line


def record_of(sweep_dir: Path, trial: optuna.trial.FrozenTrial) -> dict:
    return read_record(Path(sweep_dir) / trial.user_attrs["run_dir"])


@pytest.mark.slow
def test_each_question_is_its_own_study_checked_on_load(tmp_path):
    sweep = tmp_path / "lr"
    search(sweep, 1)
    later = search(sweep, 1, "task.seq_len=6")  # another T: its own study, not the first's
    assert "also holds 1 studies of other questions (the nearest differs in task.seq_len)" \
        in later.stdout
    copy = search(sweep, 2, "task=copy")  # another task: its own study, maximised
    found = studies(sweep)
    assert sorted(found) == [("adding", 4), ("adding", 6), ("copy", 4)]
    assert found[("copy", 4)].direction == optuna.study.StudyDirection.MAXIMIZE
    assert found[("adding", 6)].direction == optuna.study.StudyDirection.MINIMIZE
    for study in found.values():  # each trial's value is its own run's objective
        for trial in study.get_trials(states=(COMPLETE,)):
            record = record_of(sweep, trial)
            assert record["config"]["task"]["seq_len"] == study.user_attrs[QUESTION][
                "config"]["task"]["seq_len"]
            assert trial.value == objective_of(record)
    assert [len(s.get_trials(states=(COMPLETE,))) for s in found.values()] == [1, 1, 2]
    # the outcome is the last search's: copy only, its best the largest recall of its trials
    result = yaml.safe_load(SweepDir(sweep).lr_search.read_text())
    (entry,) = result["searches"]
    values = {t.params["lr"]: t.value for t in found[("copy", 4)].get_trials(states=(COMPLETE,))}
    assert entry["task"] == "copy" and entry["direction"] == "maximize"
    assert entry["trials"] == 2 and 0 <= entry["best_value"] <= 1
    assert entry["best_value"] == max(values.values())
    assert entry["best_lr"] == max(values, key=values.get)
    assert result["optim"]["lr_by_cell"] == {"lstm": float(f"{entry['best_lr']:.3g}")}
    assert "Traceback" not in copy.stderr

    # the lr window beside it: every trial of the copy study, the same bytes when redrawn
    files = SweepDir(sweep)
    table = files.lr_window_table.read_text()
    for lr, value in values.items():
        assert f"| {lr:.4g} " in table and f"| {value:.4g} " in table
    _, trials = outcome([found[("copy", 4)]])
    fig = lr_window(trials, (1e-4, 3e-2))
    (line,) = fig.axes[0].get_lines()[:1]
    assert list(line.get_xdata()) == sorted(values)
    assert list(line.get_ydata()) == [values[lr] for lr in sorted(values)]
    copied = SweepDir(tmp_path / "again" / sweep.name)  # the same name: the title names it
    copied.path.mkdir(parents=True)
    method = LrSearch(2, 1e-4, 3e-2, 0, 1)._method()
    write_window(copied, trials, (1e-4, 3e-2), method)
    for path in (files.lr_window_table, files.path / "lr_search.png",
                 files.path / "lr_search.pdf"):
        assert (copied.path / path.name).read_bytes() == path.read_bytes(), path.name

    # a study under this name that states another question is refused, and left untouched
    first = found[("adding", 4)]
    stated = first.user_attrs[QUESTION]
    first.set_user_attr(QUESTION, {**stated, "metric": "val_loss"})
    refused = search(sweep, 1, code=2)
    assert one_line(refused) == (
        f"rnnmem: error: {files.optuna_storage}: study {first.study_name} was made for another "
        "question (differs in metric); it is left untouched: give this search its own "
        "hydra.sweep.dir")
    assert len(first.get_trials()) == 1
    first.set_user_attr(QUESTION, stated)

    # runs of this question made by other code: refused up front, as a sweep refuses them
    (trial,) = found[("adding", 6)].get_trials()
    run_dir = sweep / trial.user_attrs["run_dir"]
    record = read_record(run_dir)
    write_record(run_dir, {**record, "source_digest": "0" * 64})
    before = sorted(find_runs(sweep))
    changed = search(sweep, 2, "task.seq_len=6", code=2)
    assert "1 runs of this search hold records or checkpoints made by other code" in changed.stdout
    assert one_line(changed).endswith("set on_code_change=rerun to train them again or "
                                      "on_code_change=keep to keep them")
    assert sorted(find_runs(sweep)) == before  # nothing ran


@pytest.mark.slow
def test_stopped_and_killed_searches_resume_and_continue_the_uninterrupted_sequence(
        tmp_path, tmp_path_factory):
    sweep, reference = tmp_path / "lr", tmp_path / "reference"
    # SIGTERM while trial 1 trains: 143, the trial checkpointed and stays RUNNING
    gates = tmp_path_factory.mktemp("gate-term")
    proc = start_search(sweep, 2, *LONGER, *gate("PauseAfterFirstCheckpoint", gates, from_job=1))
    wait_until(lambda: any(gates.glob("[!.]*")), "trial 1 paused", proc)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, stdout[-2000:] + stderr[-2000:]
    assert "Traceback" not in stderr
    assert "[lr search] stopped by SIGTERM; rerun the same command to resume" in stdout
    (study,) = studies(sweep).values()
    trials = by_number(study)
    assert [trials[0].state, trials[1].state] == [COMPLETE, RUNNING]
    stopped = record_of(sweep, trials[1])
    assert stopped["status"] == "preempted" and stopped["train_steps"] == 20
    assert (sweep / trials[1].user_attrs["run_dir"] / RunDir.CHECKPOINT).exists()
    outcome_file = yaml.safe_load(SweepDir(sweep).lr_search.read_text())
    assert outcome_file["stopped_by"] == "SIGTERM"
    assert (outcome_file["searches"][0]["trials"], outcome_file["searches"][0]["running"]) == (1, 1)

    # extended to 3 and killed by SIGKILL while trial 2 trains; trial 1 resumed first
    gates = tmp_path_factory.mktemp("gate-kill")
    proc = start_search(sweep, 3, *LONGER, *gate("PauseAfterFirstCheckpoint", gates, forever=True,
                                                 from_job=1))
    wait_until(lambda: any(gates.glob("[!.]*")), "trial 2 paused", proc)
    proc.kill()
    stdout, _ = proc.communicate(timeout=60)
    assert "trial 1 at lr" in stdout and "(resumed: its process had stopped)" in stdout
    trials = by_number(study)
    assert [trials[n].state for n in range(3)] == [COMPLETE, COMPLETE, RUNNING]

    # the same command: trial 2 claimed and resumed from its checkpoint, nothing asked twice
    search(sweep, 3, *LONGER)
    search(reference, 3, *LONGER)  # uninterrupted
    trials = by_number(study)
    (uninterrupted,) = studies(reference).values()
    expected = by_number(uninterrupted)
    assert sorted(trials) == [0, 1, 2] and all(t.state == COMPLETE for t in trials.values())
    assert len({t.params["lr"] for t in trials.values()}) == 3
    for number in range(3):
        assert trials[number].params == expected[number].params, number
        assert trials[number].value == expected[number].value, number
    assert [record_of(sweep, trials[n]).get("resumed_from_step") for n in range(3)] == [
        None, 20, 10]
    assert len(find_runs(sweep)) == 3


@pytest.mark.slow
def test_two_searches_on_one_directory_at_once_both_finish_and_lose_nothing(tmp_path,
                                                                          gate_dir):
    sweep = tmp_path / "lr"
    both = [start_search(sweep, 2, *gate("Rendezvous", gate_dir, parties=2)) for _ in range(2)]
    for proc in both:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stdout[-2000:] + stderr[-2000:]
        assert "Traceback" not in stderr
    assert len(list(gate_dir.glob("arrived-*"))) == 2  # each had a trial running at once
    (study,) = studies(sweep).values()
    trials = study.get_trials()
    assert [t.state for t in trials] == [COMPLETE, COMPLETE]
    assert len({t.params["lr"] for t in trials}) == 2
    for trial in trials:
        assert trial.value == objective_of(record_of(sweep, trial))
    (entry,) = yaml.safe_load(SweepDir(sweep).lr_search.read_text())["searches"]
    assert entry["trials"] == 2 and entry["running"] == 0
    assert entry["best_value"] == min(t.value for t in trials)


@pytest.fixture
def real_storage(tmp_path):
    """A real optuna.db with one study and one complete trial."""
    sweep = tmp_path / "lr"
    sweep.mkdir()
    study = optuna.create_study(study_name="s", storage=storage(sweep))
    study.tell(study.ask(), 1.0)
    return sweep


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_storage_is_one_line(real_storage, damage):
    db = SweepDir(real_storage).optuna_storage
    data = db.read_bytes()
    db.write_bytes(os.urandom(4096) if damage == "garbage" else data[: len(data) // 2])
    line = one_line(search(real_storage, 1, code=1))
    assert line.startswith(f"rnnmem: error: cannot use the lr search's storage {db}: "
                           "DatabaseError: ")
    assert "file is not a database" in line or "malformed" in line
    assert not find_runs(real_storage)


@pytest.mark.slow
def test_a_read_only_or_full_directory_is_one_line(read_only, tiny_tmpfs):
    sweep, make_read_only = read_only
    make_read_only()
    line = one_line(search(sweep, 1, code=1))
    assert line == (f"rnnmem: error: cannot write the lr search directory {sweep}: [Errno 30] "
                    f"Read-only file system: {sweep}/.lr_search")
    filler = os.open(tiny_tmpfs / "filler", os.O_WRONLY | os.O_CREAT)
    try:  # fill the tmpfs to its last page
        while True:
            os.write(filler, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(filler)
    line = one_line(search(tiny_tmpfs / "lr", 1, code=1))
    assert line.startswith("rnnmem: error: cannot "), line
    assert "No space left on device" in line or "database or disk is full" in line, line


def test_trial_seeds_differ_by_trial_and_search_seed():
    seeds = {(seed, n): trial_seed(seed, n) for seed in (0, 1) for n in range(50)}
    assert len(set(seeds.values())) == 100 and all(0 <= s < 2**32 for s in seeds.values())
    assert trial_seed(0, 3) == trial_seed(0, 3)


def test_study_summary_finds_the_best_trial_and_the_window_that_solved():
    trials = pd.DataFrame({
        "study": "s", "label": "model.cell=gru", "task": "adding", "seq_len": 10, "cell": "gru",
        "trial": [0, 1, 2, 3, 4], "lr": [1e-4, 1e-3, 3e-3, 1e-2, 2e-2],
        "value": [0.16, 0.009, 0.002, 0.005, math.nan],
        "state": ["complete", "complete", "complete", "complete", "failed"]})
    (summary,) = study_summaries(trials)
    assert (summary["best_lr"], summary["best_value"]) == (3e-3, 0.002)
    assert summary["solved"] == 3 and summary["solved_lr_window"] == [1e-3, 1e-2]
    assert (summary["trials"], summary["failed"], summary["running"]) == (4, 1, 0)


def test_combinations_expand_swept_overrides_like_hydra():
    assert combinations(["model.cell=rnn,orth", "task=copy"]) == [
        (["model.cell=rnn", "task=copy"], "model.cell=rnn"),
        (["model.cell=orth", "task=copy"], "model.cell=orth")]
    assert combinations(["task=copy"]) == [(["task=copy"], "default")]


def test_objective_is_the_last_validation_value_of_the_task_metric():
    record = {"status": "finished", "config": {"task": {"name": "copy"}},
              "curves": {"val": [{"step": 5, "val_acc": 0.2}, {"step": 10, "val_acc": 0.4}]}}
    assert objective_of(record) == 0.4
    assert objective_of(json.loads(json.dumps(record)) | {"status": "diverged"}) is None


def test_a_search_scales_each_trials_lr_by_the_roles_factors(tmp_path):
    """`optim.lr_scale` is a plain override a search keeps: each trial's recurrent group trains
    at the trial's lr times the factor (orth's own default, 0.1, where none is given)."""
    search(tmp_path / "scaled", 1, "model.cell=orth", "optim.lr_scale={recurrent: 0.5}")
    search(tmp_path / "default", 1, "model.cell=orth")
    for name, factor in (("scaled", 0.5), ("default", 0.1)):
        (run,) = find_runs(tmp_path / name)
        record = read_record(run)
        lr = record["config"]["optim"]["lr"]
        assert record["param_groups"]["recurrent"]["lr"] == pytest.approx(lr * factor)
        assert record["param_groups"]["input"]["lr"] == lr
