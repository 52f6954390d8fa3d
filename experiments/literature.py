"""Papers' stated outcomes beside ours, point by point (written into `references.md`):
Arjovsky et al. 2016 for `make sweep EXPERIMENT=arjovsky2016` (below), and the recall preset's
papers (`RECALL`: Mamba, minGRU, Zoology, LRU) for `make sweep EXPERIMENT=recall`, each claim at
its own depth. A `state` claim shows the recurrent state elements per layer beside the outcome.

Arjovsky, Shah & Bengio 2016 (uRNN) report curves rather than numbers, so each point is the
outcome its figures and their captions state, paraphrased (`Claim.says`), and ours is computed
from the sweep's records at the same task and T (one layer, unidirectional, every finished
seed):

- outcome points: the held-out metric (mean ± std over seeds), the test loss over the task's
  memoryless baseline, and a verdict: "solved" (the task's solved rule, most seeds), "at the
  baseline" (a loss within 10% of the baseline's, or above it, in most seeds: the plateau a
  paper's curve sits on, e.g. adding MSE 0.155 against 1/6) or "below the baseline"; and,
  where a validation of some seed met the solved rule, the learning curve's course per seed
  (the paper's curves show when a task is solved and whether it stays so): the first
  validation step that met it and how often a later one lost it again;
- gradient points (the paper's figure of ‖dC/dh_t‖ at the start of training and after 100
  iterations): log10(||dL/dh_0|| / ||dL/dh_T-1||) of the probe at steps 0 and 100 (mean over
  seeds): near 0 is flat, strongly negative is vanishing.

The orthogonal RNN (`orth`, real orthogonal W_hh, modReLU) stands in for the paper's uRNN
(complex unitary W_hh); the GRU was not in the paper. `make sweep EXPERIMENT=arjovsky2016` runs
the matching grid; a sweep without T = 100 one-layer runs gets no lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from rnnmem.reporting.labels import cell_label, metric_spec, recorded_task
from rnnmem.reporting.seeds import solved_by_majority
from rnnmem.reporting.selection import finished, select
from rnnmem.reporting.tables import mean_std
from rnnmem.rundir.record import read_probe_arrays, read_record
from rnnmem.tasks import TASKS, MemoryTask

AT_BASELINE = 0.9  # loss / baseline at or above which a run sits on the baseline's plateau
GRADIENT_STEPS = (0, 100)


@dataclass(frozen=True)
class Claim:
    """One outcome a paper states for `cell` on `task` at T = `seq_len`: an outcome of training
    (`kind="outcome"`) or the shape of ||dL/dh_t|| (`kind="gradient"`)."""

    source: str
    task: str
    seq_len: int
    cell: str
    says: str
    kind: str = "outcome"
    depth: int = 1


ARJOVSKY_2016 = (
    Claim("Arjovsky et al. 2016, Fig. 1", "copy", 100, "rnn",
          "stays at the baseline (every T of 100-500)"),
    Claim("Arjovsky et al. 2016, Fig. 1", "copy", 100, "lstm",
          "plateaus at the baseline; T = 100 is the only length (of 100-500) where it ends "
          "below it"),
    Claim("Arjovsky et al. 2016, Fig. 1", "copy", 100, "orth",
          "uRNN: solves every T in few iterations, no plateau at the baseline"),
    Claim("Arjovsky et al. 2016", "copy", 100, "gru", "not in the paper"),
    Claim("Arjovsky et al. 2016", "copy", 100, "irnn", "not in the copy experiment"),
    Claim("Arjovsky et al. 2016, Fig. 2", "adding", 100, "rnn",
          "never beats the baseline (every T of 100-750)"),
    Claim("Arjovsky et al. 2016, Fig. 2", "adding", 100, "lstm",
          "beats the baseline at every T, close to the uRNN"),
    Claim("Arjovsky et al. 2016, Fig. 2", "adding", 100, "orth",
          "uRNN: beats the baseline at every T, close to the LSTM"),
    Claim("Arjovsky et al. 2016", "adding", 100, "gru", "not in the paper"),
    Claim("Arjovsky et al. 2016, Fig. 2", "adding", 100, "irnn",
          "compared, no outcome stated in the caption"),
    Claim("Arjovsky et al. 2016, Fig. 4", "adding", 100, "orth",
          "uRNN: ‖dC/dh_t‖ flat over t, at the start and after 100 iterations", "gradient"),
    Claim("Arjovsky et al. 2016, Fig. 4", "adding", 100, "rnn",
          "tanh RNN: ‖dC/dh_t‖ vanishes towards early t, at the start and after 100 "
          "iterations", "gradient"),
)


# Mamba (Gu & Dao 2023, Table 1: selective copying at length 4096, 16 tokens to recall), Feng
# et al. 2024 ("Were RNNs all we needed?", selective copying in Mamba's setting), Arora et al.
# 2023 (Zoology, figures of MQAR accuracy against state size) and Orvieto et al. 2023 (LRU),
# beside `make sweep EXPERIMENT=recall` (2 layers, T = 32: far smaller than the papers').
RECALL = (
    Claim("Gu & Dao 2023, Table 1", "selective_copy", 32, "s6",
          "the selective S6 layer solves it (about 97% token accuracy alone, 99.8% in the "
          "Mamba block)", depth=2),
    Claim("Gu & Dao 2023, Table 1", "selective_copy", 32, "lru",
          "time-invariant recurrences fail: LTI S4 about 18% (the LRU is time-invariant "
          "too; not in the table)", depth=2),
    Claim("Feng et al. 2024", "selective_copy", 32, "mingru",
          "minGRU solves it in Mamba's setting with enough layers (accuracy rises with "
          "depth)", depth=2),
    Claim("Gu & Dao 2023, section 3.1", "selective_copy", 32, "gru",
          "not in the table; a gated RNN's input-dependent gates are the selection the "
          "paper asks for", depth=2),
    Claim("Arora et al. 2023 (Zoology)", "mqar", 32, "s6",
          "MQAR accuracy grows with the recurrent state size; input-dependent recurrences "
          "close the gap to attention as the state grows", "state", depth=2),
    Claim("Arora et al. 2023 (Zoology)", "mqar", 32, "lru",
          "time-invariant recurrences with a small state fail where attention succeeds",
          "state", depth=2),
    Claim("Arora et al. 2023 (Zoology)", "mqar", 32, "gru",
          "not in the paper (no LSTM or GRU)", "state", depth=2),
    Claim("Arora et al. 2023 (Zoology)", "mqar", 32, "lstm",
          "not in the paper (no LSTM or GRU)", "state", depth=2),
    Claim("Orvieto et al. 2023", "copy", 32, "lru",
          "not run on copy; a linear diagonal recurrence initialised near the unit circle "
          "keeps its inputs over long ranges (Long Range Arena)", depth=2),
    Claim("Arjovsky et al. 2016, Fig. 1", "copy", 32, "orth",
          "an orthogonal (unitary) recurrence solves copy with no plateau", depth=2),
    Claim("Arjovsky et al. 2016, Fig. 1", "copy", 32, "lstm",
          "plateaus at the baseline", depth=2),
)
CLAIMS = (*ARJOVSKY_2016, *RECALL)


def verdict(runs: pd.DataFrame) -> str:
    """'solved', 'at the baseline' or 'below the baseline' for most of `runs` (finished)."""
    if solved_by_majority(runs):
        return "solved"
    ratio = runs["test_loss"].to_numpy(dtype=float) / runs["baseline"].to_numpy(dtype=float)
    return "at the baseline" if (ratio >= AT_BASELINE).sum() * 2 > len(runs) \
        else "below the baseline"


def outcome_text(task: str, runs: pd.DataFrame) -> str:
    spec = metric_spec(task, runs)
    ratio = runs["test_loss"] / runs["baseline"]
    return (f"{verdict(runs)}: {TASKS[task].metric} {mean_std(runs[spec.column])}, "
            f"loss / baseline {mean_std(ratio, 2)}")


def solved_course(rule: MemoryTask, run_dir: Path | str) -> tuple[int | None, int]:
    """From a run's validation curve: the first step whose value met the task's solved rule
    (`rule`, the task as the runs ran it) (None if none did), and how many times a validation
    after a solved one did not."""
    column = f"val_{rule.metric}"
    curve = [(row["step"], rule.solved({rule.metric: row[column]}))
             for row in read_record(Path(run_dir)).get("curves", {}).get("val", [])
             if column in row]
    first = next((step for step, solved in curve if solved), None)
    lost = sum(1 for (_, before), (_, now) in pairwise(curve) if before and not now)
    return first, lost


def course_text(task: str, runs: pd.DataFrame) -> str:
    """'; validation solved first at step 1000/3000, lost 0/2 times after' (per seed, in
    the runs' order; 'never' for a seed that was not), or '' when no seed ever was."""
    rule = recorded_task(runs, task)
    courses = [solved_course(rule, run_dir) for run_dir in runs["run_dir"]]
    if all(first is None for first, _ in courses):
        return ""
    firsts = "/".join("never" if first is None else str(first) for first, _ in courses)
    losses = "/".join(str(lost) for _, lost in courses)
    return f"; validation solved first at step {firsts}, lost {losses} times after"


def gradient_ratios(run_dir: Path | str) -> list[float]:
    """log10(||dL/dh_0|| / ||dL/dh_T-1||) of the first layer's forward direction at each probe
    step of GRADIENT_STEPS (NaN where the run has no probe at that step)."""
    arrays = read_probe_arrays(Path(run_dir))
    steps = list(arrays.get("steps", []))
    return [float(arrays["log10_grad_ratio"][steps.index(step), 0, 0]) if step in steps
            else float("nan") for step in GRADIENT_STEPS]


def gradient_text(runs: pd.DataFrame) -> str:
    ratios = np.array([gradient_ratios(run_dir) for run_dir in runs["run_dir"]])
    parts = [f"step {step}: {mean_std(ratios[:, k], 2)}" for k, step in enumerate(GRADIENT_STEPS)]
    return "log10 g_0/g_T-1 " + ", ".join(parts)


def state_text(task: str, runs: pd.DataFrame) -> str:
    """An outcome with the recurrent state it was reached with (elements per layer)."""
    states = runs["state_elements"].dropna().unique() if "state_elements" in runs else []
    state = f", state {int(states[0])} per layer" if len(states) == 1 else ""
    return outcome_text(task, runs) + state


def claim_lines(runs: pd.DataFrame, claims: tuple[Claim, ...] = CLAIMS) -> list[str]:
    """Markdown rows: each claim beside ours at its task, T, cell and depth (unidirectional:
    the finished runs, and how many diverged); claims with no such runs are left out, and no
    lines at all when none matches."""
    texts_of = {"gradient": lambda task, ours: gradient_text(ours),
                "outcome": lambda task, ours: outcome_text(task, ours) + course_text(task, ours),
                "state": lambda task, ours: state_text(task, ours) + course_text(task, ours)}
    lines = []
    for claim in claims:
        point = select(runs, task=claim.task, seq_len=claim.seq_len, cell=claim.cell,
                       depth=claim.depth, bidirectional=False)
        ours, diverged = finished(point), (point["status"] == "diverged").sum()
        if ours.empty and not diverged:
            continue
        texts = [] if ours.empty else [
            texts_of[claim.kind](claim.task, ours) + f" ({len(ours)} seeds)"]
        texts += [f"diverged ({diverged} seeds)"] if diverged else []
        lines.append(f"| {claim.source} | {claim.task} | {claim.seq_len} | "
                     f"{cell_label(claim.cell)} | {claim.depth} | {claim.says} | "
                     f"{'; '.join(texts)} |")
    if not lines:
        return []
    return ["| source | task | T | cell | layers | the paper | ours (uni.) |",
            "|---|---|---|---|---|---|---|", *lines]

