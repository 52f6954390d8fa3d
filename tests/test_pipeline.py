"""The whole pipeline on real sweeps: train -> Hydra multirun -> records -> `make figures`.

1. A toy task defined here (one subclass, one registry entry) trains, sweeps and draws: proof
   that a new task needs nothing else.
2. A smoke-sized sweep of the real adding problem (two cells, two lengths, two seeds) goes
   through `experiments/make_figures.py`: every figure is drawn from real records.
3. A training process does not import the paper-figure code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import table1
from make_figures import main as make_figures_main
from rnnmem.reporting.expected import sweep_runs
from rnnmem.rundir.record import read_record
from rnnmem.tasks import TASKS, MemoryTask

ROOT = Path(__file__).resolve().parents[1]
MAKE_FIGURES = ROOT / "experiments" / "make_figures.py"
SMOKE = ["+experiment=smoke", "hydra.launcher.n_jobs=1", "trainer.max_steps=30",
         "seed=0,1", "model.cell=rnn,gru"]


class RecallFirstTask(MemoryTask):
    """Toy task: T random bits, predict the first one after the last step (MSE; a network
    without memory predicts 1/2, MSE 1/4)."""

    name: ClassVar[str] = "recall_first"
    input_size: ClassVar[int] = 1
    num_outputs: ClassVar[int] = 1
    per_step_output: ClassVar[bool] = False
    min_seq_len: ClassVar[int] = 2
    metric: ClassVar[str] = "mse"
    metric_label: ClassVar[str] = "first-bit MSE"
    higher_is_better: ClassVar[bool] = False
    solved_threshold: ClassVar[float] = 0.05
    metric_log_scale: ClassVar[bool] = True
    length_label: ClassVar[str] = "bits T"
    loss_label: ClassVar[str] = "MSE"

    @property
    def length(self) -> int:
        return self.seq_len

    @property
    def baseline(self) -> float:
        return 0.25

    @property
    def metric_baseline(self) -> float:
        return 0.25

    @property
    def loss_anchor(self) -> int:
        return self.seq_len - 1

    @property
    def information_steps(self) -> np.ndarray:
        return np.array([0])  # only the first bit matters

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        bits = torch.randint(0, 2, (batch_size, self.seq_len, 1), generator=generator,
                             device=generator.device).float()
        return bits, bits[:, 0, 0].clone()

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(output.reshape(target.shape), target)

    def metrics(self, output: Tensor, target: Tensor) -> dict[str, Tensor]:
        mse = self.loss(output.detach(), target)
        return {"loss": mse, "mse": mse}

    def recall_items(self, x: Tensor, output: Tensor, target: Tensor) -> dict[str, np.ndarray]:
        error = (output.detach().reshape(target.shape) - target) ** 2
        position = np.zeros(len(target), dtype=np.int64)
        return {"position": position, "lag": position + self.seq_len - 1,
                "value": error.double().numpy()}


def run_sweep(sweep_dir: Path, *args: str, register_toy: bool = False) -> None:
    """A real Hydra multirun of `rnnmem.train` in a fresh process (with the toy task in the
    registry when asked: the one line a user adds for a new task)."""
    register = ""
    if register_toy:
        register = (f"sys.path[:0] = [{str(Path(__file__).parent)!r}, "
                    f"{str(MAKE_FIGURES.parent)!r}]\n"
                    "from test_pipeline import RecallFirstTask\n"
                    "from rnnmem.tasks import TASKS\n"
                    "TASKS['recall_first'] = RecallFirstTask\n")
    script = textwrap.dedent("""
        import runpy, sys
        {register}
        sys.argv = ["rnnmem.train", *{args!r}]
        runpy.run_module("rnnmem.train", run_name="__main__", alter_sys=True)
    """).format(register=register, args=[*args, f"hydra.sweep.dir={sweep_dir}"])
    env = dict(os.environ, PYTHONWARNINGS="ignore", HYDRA_FULL_ERROR="1")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


@pytest.mark.slow
def test_a_toy_task_defined_here_trains_sweeps_and_draws(tmp_path, monkeypatch):
    sweep = tmp_path / "sweep"
    run_sweep(sweep, *SMOKE, "task.name=recall_first", "task.seq_len=3,5", register_toy=True)
    monkeypatch.setitem(TASKS, "recall_first", RecallFirstTask)
    runs = sweep_runs(sweep)
    assert len(runs) == 8 and set(runs["status"]) == {"finished"}
    assert set(runs["task"]) == {"recall_first"}
    record = read_record(Path(runs["run_dir"].iloc[0]))
    curve = record["forgetting"]["curve"]
    lag = record["config"]["task"]["seq_len"] - 1
    assert [(p["position"], p["lag"], p["count"]) for p in curve] == [(0, lag, 32)]
    assert curve[0]["value"] == pytest.approx(record["test_mse"], rel=1e-5)
    assert make_figures_main([str(sweep)]) == 0
    out = sweep / "figures"
    assert (out / "fig7_forgetting_recall_first_T3.png").stat().st_size > 0
    table, bold, _ = table1.table_frame(runs)
    assert list(table.columns)[3:7] == ["params", "recall_first T=3", "recall_first T=5",
                                        "recall_first coverage"]
    gru = runs[(runs["cell"] == "gru") & (runs["seq_len"] == 5)]["test_mse"]
    entry = table[table["cell"] == "GRU"]["recall_first T=5"].item()
    assert entry == f"{gru.mean():.3g} ± {gru.std(ddof=1):.2g}"
    assert "Runs: 8 (8 finished" in (out / "report.md").read_text()


@pytest.mark.slow
def test_smoke_sweep_of_real_records_goes_through_make_figures(tmp_path):
    sweep = tmp_path / "sweep"
    run_sweep(sweep, *SMOKE, "task.seq_len=4,6")
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, str(MAKE_FIGURES), str(sweep)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = sweep / "figures"
    report = (out / "report.md").read_text()
    assert ("Runs: 8 (8 finished, 0 failed, 0 diverged, 0 missing); the sweep's last command "
            "(`multirun.yaml`) has 8 grid points.") in report
    runs = sweep_runs(sweep)
    # every figure from these records: Table 1 holds their numbers, the forgetting findings
    # their spans, the long table one line per run
    table, _, _ = table1.table_frame(runs)
    for cell, label in (("rnn", "vanilla RNN"), ("gru", "GRU")):
        for length in (4, 6):
            values = runs[(runs["cell"] == cell) & (runs["seq_len"] == length)]["test_mse"]
            entry = table[table["cell"] == label][f"adding T={length}"].item()
            assert entry.strip("*") == f"{values.mean():.3g} ± {values.std(ddof=1):.2g}"
    long = pd.read_csv(out / "table1_runs.csv")
    assert len(long) == 8
    assert set(long["item_span"]) <= set(range(6))  # lags 0..T-1 at T = 4 and 6
    assert long["item_span"].tolist() == runs["intervention_span"].tolist()
    assert long["item_capacity_fraction"].between(0, 1).all()
    assert long["item_capacity_fraction"].tolist() == runs[
        "intervention_capacity_fraction"].tolist()
    # the item-memory headline: the intervention view's capacity (fraction) and span
    assert list(table.columns)[-2:] == ["adding capacity", "adding span"]
    gru = runs[(runs["cell"] == "gru") & (runs["seq_len"] == 6)]
    row = table[table["cell"] == "GRU"]
    assert row["adding span"].item() == f"{gru['intervention_span'].mean():.1f}"
    assert row["adding capacity"].item() == (
        f"{gru['intervention_capacity_fraction'].mean():.2f}")
    for view in ("gradient", "intervention", "storage"):  # every view of every run
        assert runs[f"{view}_capacity_fraction"].notna().all(), view
    assert "| 6 | GRU | 1 | uni |" in (out / "fig8_gradient_vs_behaviour.md").read_text()
    views = (out / "fig9_item_memory_views.md").read_text()
    assert "| T | cell | depth | direction | gradient | intervention | storage |" in views
    assert "| 6 | GRU | 1 | uni |" in views
    findings = (out / "fig7_forgetting.md").read_text()
    assert "| adding | 4 | vanilla RNN | 1 | uni | 2-3 |" in findings
    assert "| adding | 6 | vanilla RNN | 1 | uni | 3-5 |" in findings
    for stem in ("fig1_gradient_vanishing_d1_uni", "fig2_memory_capacity",
                 "fig3_gradient_flow", "fig4_depth_direction", "fig5_gate_dynamics",
                 "fig6_learning_curves", "fig7_forgetting_adding_T4",
                 "fig8_gradient_vs_behaviour", "fig9_item_memory_adding_d1_uni"):
        assert (out / f"{stem}.png").stat().st_size > 0, stem
    record = read_record(Path(runs["run_dir"].iloc[0]))
    assert record["memory_span"] == record["forgetting"]["memory_span"]


def test_training_does_not_import_the_paper_figure_code():
    """Training reads and writes records (`records`), the sweep's summary (`tables`) and a
    run's own W&B pictures (`style`); the analysis and figure modules are never loaded."""
    code = ("import sys, rnnmem.train, rnnmem.tracking.wandb_run, rnnmem.sweeps.monitor; "
            "print(sorted(m for m in sys.modules if m.startswith('rnnmem.reporting.') "
            "or m == 'make_figures'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    assert result.stdout.strip() == str(["rnnmem.reporting.records", "rnnmem.reporting.style",
                                         "rnnmem.reporting.tables"])
