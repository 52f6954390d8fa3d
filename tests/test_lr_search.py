"""`hparams_search=lr`: a real Optuna study per cell through the train entry point, stored in
SQLite in the sweep directory, resumed by the same command with more trials."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import run_cli
from rnnmem.reporting.records import find_runs, objective_of
from rnnmem.rundir.paths import SweepDir
from rnnmem.rundir.record import read_record
from rnnmem.sweeps.lr_search import combinations

optuna = pytest.importorskip("optuna")

TOY = ("task=adding", "task.seq_len=4", "model.hidden_size=4", "data.batch_size=8",
       "data.val_size=32", "data.test_size=32", "trainer.max_steps=10",
       "trainer.val_every_n_steps=5", "trainer.log_every_n_steps=5", "probe.enabled=false",
       "logger=none", "trainer.progress_bar=false", "hydra.sweeper.n_startup_trials=1")


def search(sweep_dir, trials: int, *extra: str):
    result = run_cli("hparams_search=lr", *TOY, *extra, f"hydra.sweeper.n_trials={trials}",
                     f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_two_trial_search_stores_and_resumes_its_study(tmp_path):
    sweep = tmp_path / "lr"
    search(sweep, 1, "model.cell=rnn,gru")
    assert (SweepDir(sweep).optuna_storage).exists()
    first = {run: read_record(run)["config"]["optim"]["lr"] for run in find_runs(sweep)}
    assert len(first) == 2  # one trial per cell
    search(sweep, 2, "model.cell=rnn,gru")  # the same command, one more trial per study
    runs = find_runs(sweep)
    assert len(runs) == 4 and set(first) <= set(runs)
    for run, lr in first.items():  # the first trials were not trained again
        assert read_record(run)["config"]["optim"]["lr"] == lr
    storage = f"sqlite:///{SweepDir(sweep).optuna_storage}"
    summaries = optuna.get_all_study_summaries(storage)
    assert sorted(s.study_name for s in summaries) == ["model.cell=gru", "model.cell=rnn"]
    result = yaml.safe_load((SweepDir(sweep).lr_search).read_text())
    for study_summary in summaries:
        study = optuna.load_study(study_name=study_summary.study_name, storage=storage)
        assert study.direction == optuna.study.StudyDirection.MINIMIZE  # adding: MSE
        trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        assert len(trials) == 2
        cell = study_summary.study_name.split("=")[1]
        records = [read_record(r) for r in runs if read_record(r)["config"]["model"]["cell"]
                   == cell]
        # each trial's value is its run's last validation MSE, taken from the record
        by_lr = {r["config"]["optim"]["lr"]: objective_of(r) for r in records}
        assert {t.params["lr"]: t.value for t in trials} == pytest.approx(by_lr)
        best_lr = min(by_lr, key=by_lr.get)
        assert result["optim"]["lr_by_cell"][cell] == float(f"{best_lr:.3g}")
        assert all(1e-4 <= lr <= 3e-2 for lr in by_lr)


def test_objective_is_the_last_validation_value_of_the_task_metric():
    record = {"status": "finished", "config": {"task": {"name": "copy"}},
              "curves": {"val": [{"step": 5, "val_acc": 0.2}, {"step": 10, "val_acc": 0.4}]}}
    assert objective_of(record) == 0.4
    assert objective_of(json.loads(json.dumps(record)) | {"status": "diverged"}) is None


def test_combinations_expand_swept_overrides_like_hydra():
    assert combinations(["model.cell=rnn,orth", "task=copy"]) == [
        (["model.cell=rnn", "task=copy"], "model.cell=rnn"),
        (["model.cell=orth", "task=copy"], "model.cell=orth")]
    assert combinations(["task=copy"]) == [(["task=copy"], "default")]
