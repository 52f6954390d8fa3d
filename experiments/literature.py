"""A paper's stated outcomes beside ours, point by point (written into `references.md`).

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

from rnnmem.reporting.labels import cell_label, metric_spec
from rnnmem.reporting.seeds import solved_by_majority
from rnnmem.reporting.selection import finished, select
from rnnmem.reporting.tables import mean_std
from rnnmem.rundir.record import read_probe_arrays, read_record
from rnnmem.tasks import TASKS

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


def solved_course(task: str, run_dir: Path | str) -> tuple[int | None, int]:
    """From a run's validation curve: the first step whose value met the task's solved rule
    (None if none did), and how many times a validation after a solved one did not."""
    rule = TASKS[task](TASKS[task].min_seq_len)
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
    courses = [solved_course(task, run_dir) for run_dir in runs["run_dir"]]
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


def claim_lines(runs: pd.DataFrame, claims: tuple[Claim, ...] = ARJOVSKY_2016) -> list[str]:
    """Markdown rows: each claim beside ours at its task, T and cell (one layer,
    unidirectional: the finished runs, and how many diverged); claims with no such runs are
    left out, and no lines at all when none matches."""
    lines = []
    for claim in claims:
        point = select(runs, task=claim.task, seq_len=claim.seq_len, cell=claim.cell,
                       depth=1, bidirectional=False)
        ours, diverged = finished(point), (point["status"] == "diverged").sum()
        if ours.empty and not diverged:
            continue
        texts = [] if ours.empty else [
            (gradient_text(ours) if claim.kind == "gradient"
             else outcome_text(claim.task, ours) + course_text(claim.task, ours))
            + f" ({len(ours)} seeds)"]
        texts += [f"diverged ({diverged} seeds)"] if diverged else []
        lines.append(f"| {claim.source} | {claim.task} | {claim.seq_len} | "
                     f"{cell_label(claim.cell)} | {claim.says} | {'; '.join(texts)} |")
    if not lines:
        return []
    return ["| source | task | T | cell | the paper | ours (1 layer, uni.) |",
            "|---|---|---|---|---|---|", *lines]

