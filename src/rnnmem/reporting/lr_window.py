"""The lr window of a learning-rate search: what each study's trials achieved at each lr, not
only its best lr. Some recurrences learn in a wide band of learning rates and others in a
narrow one; a researcher compares cells across that window.

The input is one row per trial of the search's studies (`rnnmem.sweeps.lr_search` reads them
from Optuna): `study` (its name), `label` (the swept values that picked it), `task`, `seq_len`,
`cell`, `trial` (its number), `lr`, `value` (the run's last validation value of the task's
metric; NaN unless the trial is complete) and `state` (`complete`, `failed`: the run failed or
diverged, `running`). Per study (`study_table`):

    best           the complete trial with the best value (the task's direction), the first
                   such trial where several tie
    solved         complete trials whose value meets the task's solved rule
                   (`MemoryTask.meets_threshold`: copy recall >= 0.99, adding MSE < 0.01)
    solved window  [smallest, largest] lr among the solved trials: the window the search found
                   (trials between its ends that did not solve are counted, not hidden)

`lr_window_markdown` writes both tables as `lr_search.md`; the figure is
`rnnmem.reporting.figures.lr_window`. Rows are sorted, so the same trials give the same text.
"""

from __future__ import annotations

import math

import pandas as pd

from rnnmem.reporting.labels import cell_label, ordered_cells
from rnnmem.reporting.tables import format_value, markdown_table
from rnnmem.tasks import TASKS, make_task

TRIAL_COLUMNS = ("study", "label", "task", "seq_len", "cell", "trial", "lr", "value", "state")
STATES = ("complete", "failed", "running")


def solved(task: str, seq_len: int, value: float) -> bool:
    """Whether one validation value meets `task`'s solved rule (False for NaN or an unknown
    task)."""
    if task not in TASKS or value is None or math.isnan(value):
        return False
    return make_task(task, int(seq_len)).meets_threshold(value)


def sorted_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials ordered by cell (the registry's order), study label, lr and trial number."""
    order = {cell: rank for rank, cell in enumerate(ordered_cells(trials["cell"]))}
    ranked = trials.assign(_rank=trials["cell"].map(order))
    ranked = ranked.sort_values(["task", "_rank", "label", "lr", "trial"], kind="stable")
    return ranked.drop(columns="_rank").reset_index(drop=True)


def study_summaries(trials: pd.DataFrame) -> list[dict[str, object]]:
    """One mapping per study, by `sorted_trials`' order (module docstring): `study` (its name),
    `label`, `task`, `seq_len`, `cell`, the counts `trials` (complete), `failed`, `running`,
    `best_lr`, `best_value`, `solved` (complete trials that solved) and `solved_lr_window`
    ([smallest, largest] lr among them; None when none solved)."""
    summaries = []
    for study, group in sorted_trials(trials).groupby("study", sort=False):
        first = group.iloc[0]
        complete = group[group["state"] == "complete"].sort_values("trial", kind="stable")
        higher = TASKS[first["task"]].higher_is_better if first["task"] in TASKS else False
        best = None
        if len(complete):
            best = complete.loc[(complete["value"] if higher else -complete["value"]).idxmax()]
        wins = complete[[solved(first["task"], first["seq_len"], v) for v in complete["value"]]]
        summaries.append({
            "study": str(study), "label": str(first["label"]), "task": str(first["task"]),
            "seq_len": int(first["seq_len"]), "cell": str(first["cell"]),
            "trials": len(complete), "failed": int((group["state"] == "failed").sum()),
            "running": int((group["state"] == "running").sum()),
            "best_lr": float(best["lr"]) if best is not None else None,
            "best_value": float(best["value"]) if best is not None else None,
            "solved": len(wins),
            "solved_lr_window": ([float(wins["lr"].min()), float(wins["lr"].max())]
                                 if len(wins) else None),
        })
    return summaries


def study_table(trials: pd.DataFrame) -> pd.DataFrame:
    """`study_summaries` as a table: study label, task, T, cell, trials by state, best lr and
    value, solved (of the complete trials) and the solved lr window."""
    rows = [{"study": s["label"], "task": s["task"], "T": s["seq_len"],
             "cell": cell_label(s["cell"]), "trials": s["trials"], "failed": s["failed"],
             "running": s["running"], "best lr": s["best_lr"], "best value": s["best_value"],
             "solved": f"{s['solved']}/{s['trials']}",
             "solved lr window": ("-".join(format_value(lr, 3) for lr in s["solved_lr_window"])
                                  if s["solved_lr_window"] else None)}
            for s in study_summaries(trials)]
    return pd.DataFrame(rows)


def trial_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Every trial, by study and lr: its number, lr, value, whether it solved, its state."""
    trials = sorted_trials(trials)
    return pd.DataFrame({
        "study": trials["label"], "cell": [cell_label(c) for c in trials["cell"]],
        "trial": trials["trial"].astype(int), "lr": trials["lr"], "value": trials["value"],
        "solved": [solved(t, n, v) if s == "complete" else None for t, n, v, s in
                   zip(trials["task"], trials["seq_len"], trials["value"], trials["state"],
                       strict=True)],
        "state": trials["state"],
    })


def lr_window_markdown(trials: pd.DataFrame, title: str, method: str) -> str:
    """`lr_search.md`: a heading, the search's method in one paragraph, the table of studies
    and the table of every trial."""
    lines = [f"# {title}", "", " ".join(method.split()), ""]
    if trials.empty:
        return "\n".join([*lines, "No trial yet."]) + "\n"
    studies = study_table(trials)
    lines += ["## Studies", "", markdown_table(studies).rstrip(), "",
              "## Trials", "", markdown_table(trial_table(trials)).rstrip()]
    return "\n".join(lines) + "\n"
