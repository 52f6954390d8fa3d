"""The paper's stated outcomes beside ours (experiments/literature.py), on constructed runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

import literature

COPY_BASELINE = 10 * math.log(8) / 120  # T = 100
ADDING_BASELINE = 1 / 6


def run(tmp_path, name, task, cell, seed, loss, metric, ratios=None, curve=()):
    """A finished one-layer unidirectional run at T = 100; `ratios` {probe step: log10 g ratio}
    are written to its probe.npz, `curve` (its validation metric every 1000 steps) to its
    record."""
    run_dir = tmp_path / f"{task}-{cell}-s{seed}"
    run_dir.mkdir()
    column = "val_acc" if task == "copy" else "val_mse"
    val = [{"step": 1000 * (k + 1), column: value} for k, value in enumerate(curve)]
    (run_dir / "record.json").write_text(json.dumps({"status": "finished", "config": {},
                                                     "curves": {"val": val}}))
    if ratios is not None:
        steps = np.array(sorted(ratios))
        np.savez(run_dir / "probe.npz", steps=steps,
                 log10_grad_ratio=np.array([ratios[s] for s in steps]).reshape(-1, 1, 1))
    baseline = COPY_BASELINE if task == "copy" else ADDING_BASELINE
    return {"run_dir": str(run_dir), "name": name, "task": task, "cell": cell, "depth": 1,
            "bidirectional": False, "seq_len": 100, "seed": seed, "status": "finished",
            "test_loss": loss, "baseline": baseline,  # solved: as the task's rule records it
            "solved": metric >= 0.99 if task == "copy" else metric < 0.01,
            "test_acc": metric if task == "copy" else np.nan,
            "test_mse": metric if task == "adding" else np.nan}


def test_each_claim_is_set_beside_our_verdict_and_numbers(tmp_path):
    rows = [
        run(tmp_path, "a", "copy", "orth", 0, 0.001, 1.0, curve=(0.5, 0.995, 1.0)),
        run(tmp_path, "b", "copy", "orth", 1, 0.002, 0.996,
            curve=(0.99, 0.8, 1.0, 0.17, 0.996)),
        run(tmp_path, "c", "copy", "lstm", 0, COPY_BASELINE * 0.999, 0.125),
        run(tmp_path, "d", "copy", "lstm", 1, COPY_BASELINE * 1.001, 0.124),
        run(tmp_path, "e", "adding", "lstm", 0, 0.08, 0.08),
        run(tmp_path, "f", "adding", "rnn", 0, 0.166, 0.166, ratios={0: -30.0, 100: -20.0}),
        run(tmp_path, "g", "adding", "orth", 0, 0.001, 0.001, ratios={0: -0.5, 100: -0.25}),
        run(tmp_path, "h", "adding", "orth", 1, 0.003, 0.003, ratios={0: -0.7, 100: -0.35}),
        run(tmp_path, "i", "adding", "irnn", 0, 1e17, 1e17) | {"status": "diverged"},
        run(tmp_path, "j", "adding", "rnn", 1, 0.155, 0.155, ratios={0: -20.0, 100: -30.0}),
    ]
    lines = literature.claim_lines(pd.DataFrame(rows))
    assert lines[0].startswith("| source | task | T | cell | layers | the paper | ours")
    by_point = {tuple(c.strip() for c in line.split("|")[2:5]) + (line.split("|")[6].strip(),):
                line for line in lines[2:]}
    orth_copy = next(v for k, v in by_point.items() if k[:3] == ("copy", "100", "orthogonal RNN"))
    assert "solved: acc 0.998 ± 0.0028" in orth_copy and "(2 seeds)" in orth_copy
    # the learning curves' course: when each seed was first solved, how often it was lost
    assert "validation solved first at step 2000/1000, lost 0/2 times after" in orth_copy
    lstm_copy = next(v for k, v in by_point.items() if k[:3] == ("copy", "100", "LSTM"))
    assert "at the baseline" in lstm_copy and "loss / baseline 1 ± 0.0014" in lstm_copy
    assert "validation solved" not in lstm_copy, "no course where no seed was ever solved"
    lstm_adding = next(v for k, v in by_point.items() if k[:3] == ("adding", "100", "LSTM"))
    assert "below the baseline: mse 0.08," in lstm_adding
    gradient = [line for line in lines if "log10 g_0/g_T-1" in line]
    assert len(gradient) == 2
    assert "step 0: -0.6 ± 0.14, step 100: -0.3 ± 0.071" in gradient[0]  # orth, claim order
    assert "step 0: -25 ± 7.1, step 100: -25 ± 7.1 (2 seeds)" in gradient[1]
    rnn_adding = next(v for k, v in by_point.items() if k[:3] == ("adding", "100", "vanilla RNN"))
    assert "at the baseline: mse 0.161 ± 0.0078" in rnn_adding  # 0.155 / (1/6) = 0.93: plateau
    irnn_adding = next(v for k, v in by_point.items() if k[:3] == ("adding", "100", "IRNN"))
    assert irnn_adding.endswith("| diverged (1 seeds) |")
    # cells the sweep did not run (GRU, the IRNN on copy, the tanh RNN on copy) get no line
    assert len(lines) == 2 + 8


def test_a_sweep_without_the_papers_points_gets_no_lines(tmp_path):
    rows = [run(tmp_path, "a", "copy", "orth", 0, 0.001, 1.0)]
    rows[0]["seq_len"] = 30
    assert literature.claim_lines(pd.DataFrame(rows)) == []
    rows[0].update(seq_len=100, depth=2)
    assert literature.claim_lines(pd.DataFrame(rows)) == []


def test_recall_claims_sit_beside_two_layer_runs_with_their_state(tmp_path):
    """The recall preset's claims (two layers, T = 32): a `state` claim shows the recurrent
    state elements per layer beside the outcome; a one-layer run is not their point."""
    def recall_run(name, task, cell, seed, acc, state, depth=2):
        (tmp_path / name).mkdir()
        val = [{"step": 500, "val_acc": acc / 2}, {"step": 1000, "val_acc": acc}]
        (tmp_path / name / "record.json").write_text(json.dumps(
            {"status": "finished", "config": {}, "curves": {"val": val}}))
        return {"run_dir": str(tmp_path / name), "name": name, "task": task, "cell": cell,
                "depth": depth, "bidirectional": False, "seq_len": 32, "seed": seed,
                "status": "finished", "test_loss": 0.01 if acc > 0.99 else 1.0,
                "baseline": 1.5, "solved": acc >= 0.99, "test_acc": acc,
                "state_elements": state}

    rows = [recall_run("a", "mqar", "s6", 0, 0.995, 864),
            recall_run("b", "mqar", "s6", 1, 1.0, 864),
            recall_run("c", "selective_copy", "lru", 0, 0.4, 76),
            recall_run("d", "selective_copy", "s6", 0, 0.9, 864, depth=1)]
    lines = literature.claim_lines(pd.DataFrame(rows))
    (mqar,) = [line for line in lines if "| mqar | 32 | S6 (Mamba) | 2 |" in line]
    assert "solved: acc 0.998 ± 0.0035, loss / baseline" in mqar
    assert mqar.endswith(", state 864 per layer; validation solved first at step 1000/1000, "
                         "lost 0/0 times after (2 seeds) |")
    (lru,) = [line for line in lines if "| selective_copy | 32 | LRU | 2 |" in line]
    assert "state" not in lru.split("|")[-2] and "acc 0.4," in lru
    assert not [line for line in lines if "| selective_copy | 32 | S6 (Mamba) |" in line]
