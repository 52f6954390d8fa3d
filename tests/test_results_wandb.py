"""`rnnmem.tracking.readback` reads a run back from W&B as `rnnmem.reporting.records` reads it
from disk: an offline run, or a project via the API."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import compose_config
from rnnmem.reporting import records as results
from rnnmem.reporting.records import load_run
from rnnmem.rundir.record import read_record
from rnnmem.tracking.readback import load_wandb_offline, load_wandb_project, read_wandb_offline
from rnnmem.train import train_one


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A real run logged to W&B offline: (its run directory, its offline W&B directory)."""
    run_dir = tmp_path_factory.mktemp("wandb_reader")
    cfg = compose_config(
        "logger=wandb", "task=copy", "task.seq_len=4", "model=gru", "model.hidden_size=8",
        "trainer.max_steps=20", "trainer.val_every_n_steps=10", "trainer.log_every_n_steps=5",
        "probe.every_n_steps=10", "trainer.progress_bar=false", "data.val_size=32",
        "data.test_size=32",
    )
    train_one(cfg, run_dir)
    (wandb_dir,) = run_dir.rglob("offline-run-*")
    return run_dir, wandb_dir


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def test_offline_wandb_run_reads_back_as_the_local_record(offline_run):
    run_dir, wandb_dir = offline_run
    local, remote = load_run(run_dir), load_wandb_offline(wandb_dir)
    assert remote.keys() == local.keys()
    assert remote["run_dir"] == str(wandb_dir)
    differ = [k for k in local if k != "run_dir" and not same(local[k], remote[k])]
    assert differ == []
    assert remote["status"] == "finished" and remote["task"] == "copy"
    assert remote["cell"] == "gru" and remote["seq_len"] == 4
    assert not math.isnan(remote["test_acc"]) and not math.isnan(remote["memory_horizon"])


def test_offline_wandb_run_carries_the_learning_curves(offline_run):
    run_dir, wandb_dir = offline_run
    curves = read_record(run_dir)["curves"]
    remote = read_wandb_offline(wandb_dir)["curves"]
    for split in ("train", "val"):
        assert [p["step"] for p in remote[split]] == [p["step"] for p in curves[split]]
        for mine, theirs in zip(remote[split], curves[split], strict=True):
            assert mine == pytest.approx(theirs)
    assert len(remote["train"]) == 4 and len(remote["val"]) == 2


def test_wandb_project_rows_come_from_config_and_summary(monkeypatch):
    def run(run_id: str, cell: str, state: str, summary: dict) -> SimpleNamespace:
        config = {"task": {"name": "adding", "seq_len": 10}, "seed": 0, "_wandb": {},
                  "model": {"cell": cell, "depth": 1, "bidirectional": False}}
        return SimpleNamespace(id=run_id, name=f"{cell}-d1-uni-T10-s0", state=state,
                               config=config, summary_metrics=summary)

    runs = [
        run("b2", "rnn", "finished", {"status": "finished", "test_mse": 0.2, "solved": False,
                                      "probe/memory_horizon": 3}),
        run("a1", "lstm", "crashed", {"test/mse": 0.5}),
    ]
    asked = {}

    class Api:
        def runs(self, path: str, filters: dict | None = None) -> list:
            asked.update(path=path, filters=filters)
            return runs

    monkeypatch.setattr("wandb.Api", Api)
    frame = load_wandb_project("team", "rnnmem", group="sweep-1")
    assert asked == {"path": "team/rnnmem", "filters": {"group": "sweep-1"}}
    assert list(frame["cell"]) == ["lstm", "rnn"]  # sorted like load_sweep
    assert list(frame["status"]) == ["failed", "finished"]
    assert list(frame["test_mse"]) == [0.5, 0.2]
    assert list(frame["run_dir"]) == ["team/rnnmem/a1", "team/rnnmem/b2"]
    assert frame["memory_horizon"].iloc[1] == 3
    assert list(frame.columns) == list(results.flatten_record({}).keys())
