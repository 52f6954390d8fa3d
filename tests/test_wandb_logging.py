"""What reaches Weights & Biases, read back from the offline run with `wandb leet inspect`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import compose_config
from rnnmem.tracking.wandb_run import MAX_HISTOGRAM_BINS, timestep_histogram
from rnnmem.train import train_one

WANDB = str(Path(sys.executable).with_name("wandb"))


def inspect_records(path: Path) -> list[dict]:
    """Every record of an offline W&B run (its directory, or the single run under
    `path/wandb`), as `wandb leet inspect --json` prints them."""
    if not path.name.startswith("offline-run-"):
        (path,) = (path / "wandb").glob("offline-run-*")
    out = subprocess.run([WANDB, "leet", "inspect", "--json", str(path)],
                         capture_output=True, text=True, check=True, timeout=120)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def history(records: list[dict]) -> list[dict]:
    return [r["history"]["item"] for r in records if r["type"] == "history"]


@pytest.fixture(scope="module")
def wandb_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list[dict]]:
    run_dir = tmp_path_factory.mktemp("wandb_run")
    cfg = compose_config(
        "logger=wandb", "logger.group=test-sweep", "task=adding", "task.seq_len=12",
        "model=lstm", "model.depth=2", "model.hidden_size=8", "trainer.max_steps=40",
        "trainer.val_every_n_steps=20", "trainer.log_every_n_steps=10",
        "probe.every_n_steps=20", "trainer.progress_bar=false", "data.val_size=64",
        "data.test_size=64",
    )
    record = train_one(cfg, run_dir)
    return run_dir, record, inspect_records(run_dir)


def test_wandb_run_carries_the_resolved_config_name_group_and_job_type(wandb_run):
    _, record, records = wandb_run
    (run,) = [r["run"] for r in records if r["type"] == "run"]
    config = run["config"]["update"]
    assert config["model"]["cell"] == "lstm" and config["model"]["depth"] == 2
    assert config["task"] == {"name": "adding", "seq_len": 12, "delay": "fixed",  # options null
                              "vocab_size": None, "num_tokens": None, "num_pairs": None,
                              "power_a": None}
    assert run["display_name"] == "lstm-d2-uni-T12-s0" == record["name"]
    assert run["run_group"] == "test-sweep"
    assert run["job_type"] == "adding"
    # what the model trained with: each parameter role's lr and weight decay
    assert config["param_groups"] == record["param_groups"]
    assert config["param_groups"]["recurrent"] == {"lr": 1e-3, "weight_decay": 0.0}


def test_wandb_history_has_metrics_and_probe_summaries(wandb_run):
    run_dir, record, records = wandb_run
    items = history(records)
    train_steps = [i["trainer/global_step"] for i in items if "train/loss" in i]
    assert train_steps == [9, 19, 29, 39]  # Lightning logs every 10th step (index from 0)
    assert [i["trainer/global_step"] for i in items if "val/mse" in i] == [19, 39]
    probes = [i for i in items if "probe/memory_horizon" in i]
    assert [i["trainer/global_step"] for i in probes] == [0, 20, 40]
    assert [i["probe/memory_horizon"] for i in probes] == record["probe"]["memory_horizon"]
    assert [i["probe/decay_rate"] for i in probes] == pytest.approx(record["probe"]["decay_rate"])
    assert "probe_l1_fwd/log10_grad_ratio" in probes[0]
    assert [i["probe/memory_coverage"] for i in probes] == pytest.approx(
        record["probe"]["memory_coverage"])
    assert [i["probe_l1_fwd/memory_horizon"] for i in probes] == (
        record["probe"]["layers"]["l1_fwd"]["memory_horizon"])
    (test,) = [i for i in items if "test/mse" in i]
    assert test["test/mse"] == pytest.approx(record["test_mse"])


def test_wandb_histogram_has_one_bin_per_timestep_holding_g_t(wandb_run):
    run_dir, _, records = wandb_run
    arrays = np.load(run_dir / "probe.npz")
    probes = [i for i in history(records) if "grad_h/l0_fwd.values" in i]
    assert len(probes) == 3
    last = probes[-1]
    assert last["grad_h/l0_fwd._type"] == "histogram"
    assert last["grad_h/l0_fwd.bins"] == list(range(13))  # 12 timesteps, 13 edges
    np.testing.assert_allclose(last["grad_h/l0_fwd.values"], arrays["h_norm"][-1, 0, 0],
                               rtol=1e-6)
    np.testing.assert_allclose(last["grad_x.values"], arrays["x_norm"][-1], rtol=1e-6)
    assert len(last["grad_c/l1_fwd.values"]) == 12
    assert len(last["gates/l0_fwd_forget_mean.values"]) == 12


def test_wandb_summary_and_images_at_the_end(wandb_run):
    _, record, records = wandb_run
    images = [i for i in history(records) if "grad_heatmap._type" in i]
    assert images and images[0]["grad_heatmap._type"] == "image-file"
    assert "grad_first_last.path" in images[0]
    summary: dict = {}
    for r in records:
        if r["type"] == "summary":
            summary.update(r["summary"].get("update", {}))
    assert summary["status"] == "finished"
    assert summary["test_mse"] == pytest.approx(record["test_mse"])
    assert summary["baseline"] == pytest.approx(1 / 6)
    (exit_record,) = [r["exit"] for r in records if r["type"] == "exit"]
    assert exit_record.get("exit_code", 0) == 0


def test_failed_run_finishes_wandb_with_nonzero_exit_code(tmp_path):
    cfg = compose_config("logger=wandb", "task.seq_len=6", "model=rnn", "model.forget_bias=1.0",
                         "trainer.progress_bar=false")
    record = train_one(cfg, tmp_path)
    assert record["status"] == "failed"
    (exit_record,) = [r["exit"] for r in inspect_records(tmp_path) if r["type"] == "exit"]
    assert exit_record["exit_code"] == 1


def test_timestep_histogram_pools_long_sequences_to_at_most_512_bins():
    values = np.arange(1000.0)
    hist = timestep_histogram(values)
    assert len(hist.histogram) == MAX_HISTOGRAM_BINS and len(hist.bins) == 513
    assert hist.bins[0] == 0 and hist.bins[-1] == 1000
    assert hist.histogram[0] == pytest.approx(values[:2].mean())
    short = timestep_histogram(np.array([3.0, 1.0, 2.0]))
    assert list(short.histogram) == [3.0, 1.0, 2.0] and list(short.bins) == [0, 1, 2, 3]


def test_wandb_gets_the_forgetting_curve_as_a_table_and_a_line_plot(wandb_run):
    _, record, records = wandb_run
    (item,) = [i for i in history(records) if "forgetting/table._type" in i]
    assert item["forgetting/table._type"] == "table-file"
    assert item["forgetting/table.nrows"] == len(record["forgetting"]["curve"]) == 6  # T/2
    assert item["forgetting/table.ncols"] == 4
    assert item["forgetting/curve_table._type"] == "table-file"  # the line plot's data
    summary: dict = {}
    for r in records:
        if r["type"] == "summary":
            summary.update(r["summary"].get("update", {}))
    assert summary["memory_span"] == record["memory_span"] == record["forgetting"]["memory_span"]


def test_wandb_gets_item_memory_line_plots_spans_and_capacities(wandb_run):
    """The probe view's item memory (gradient, on adding) reaches the offline run as a line
    plot at every probe, the end views' (intervention, storage) at the end, and the spans and
    capacities as scalars and summary."""
    _, record, records = wandb_run
    items = history(records)
    plots = [i for i in items if "item_memory/gradient_table._type" in i]
    assert [i["trainer/global_step"] for i in plots] == [0, 20, 40]
    assert all(i["item_memory/gradient_table.nrows"] == 12 for i in plots)  # lags 0..11
    for view in ("intervention", "storage"):
        (final,) = [i for i in items if f"item_memory/{view}_table._type" in i]
        assert final[f"item_memory/{view}_table.nrows"] == 12
    for scalar in ("item_span", "item_capacity", "item_capacity_fraction"):
        probes = [i for i in items if f"probe/{scalar}" in i]
        assert [i[f"probe/{scalar}"] for i in probes] == record["probe"][scalar]
    summary: dict = {}
    for r in records:
        if r["type"] == "summary":
            summary.update(r["summary"].get("update", {}))
    for key in ("intervention_span", "intervention_capacity", "storage_capacity_fraction",
                "item_view", "probe_view"):
        assert summary[key] == record[key]
