"""The runs a figure or table could not show, and the notes that name them, so that a gap is
never silent.

A gap is a grid point whose run failed, diverged, was preempted (stopped, to be resumed), left
no record (`missing`), holds files that cannot be read back (`damaged`: a truncated probe.npz)
or is being trained right now (`running`), as `rnnmem.reporting.expected.sweep_runs` finds it.
`gaps_for` picks the gaps that belong to what a figure shows (a gap whose value of an axis is
unknown might belong anywhere, so it is listed everywhere); `gap_notes` names them, wrapped, by
status; `star` and `why_empty` mark a grid entry that lacks some or all of its finished
runs."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

GAP_STATUSES = ("failed", "diverged", "preempted", "damaged", "running", "missing")
GAP_TITLES = {"missing": "missing (no record)", "damaged": "damaged (files unreadable)",
              "running": "running now"}
NOTE_WIDTH = 110  # characters per line of a figure's notes
ERROR_LENGTH = 48  # characters of a failed run's error that its note quotes


def gaps_for(
    runs: pd.DataFrame, lengths: Mapping[str, int] | None = None, **axes: object
) -> pd.DataFrame:
    """The rows of GAP_STATUSES at the given axis values (and, with
    `lengths`, at each task's length T there), including those whose value of such an axis is
    unknown: they might belong here."""
    mask = runs["status"].isin(GAP_STATUSES).to_numpy(dtype=bool)
    for axis, value in axes.items():
        mask = mask & ((runs[axis] == value).fillna(False) | runs[axis].isna()).to_numpy(dtype=bool)
    if lengths is not None:
        points = set(lengths.items())
        pairs = zip(runs["task"], runs["seq_len"], strict=True)
        mask = mask & np.array([not isinstance(task, str) or pd.isna(length)
                                or (task, int(length)) in points for task, length in pairs],
                               dtype=bool)
    return runs[mask]


def star(rows: pd.DataFrame) -> str:
    """'*' when some of the rows did not finish."""
    return "*" if (rows["status"] != "finished").any() else ""


def why_empty(rows: pd.DataFrame) -> str:
    """What became of a grid point without a finished run: its runs' statuses, or 'no run'."""
    statuses = sorted(set(rows["status"].dropna()) - {"finished"})
    return ", ".join(statuses) if statuses else "no run"


def run_names(runs: pd.DataFrame, with_error: bool = False) -> list[str]:
    """Sorted run labels (`task/name`), failed ones with the start of their error if asked."""
    names = []
    for run, error in zip(runs["run"], runs["error"], strict=True):
        text = str(run)
        if with_error and isinstance(error, str) and error:
            text += f" [{_shorten(error, ERROR_LENGTH)}]"
        names.append(text)
    return sorted(names)


def note_lines(title: str, names: Sequence[str], width: int = NOTE_WIDTH) -> list[str]:
    """`title (n): a, b, c` wrapped to `width` characters; [] without names."""
    if not names:
        return []
    text = f"{title} ({len(names)}): " + ", ".join(names)
    return textwrap.wrap(text, width, subsequent_indent="    ", break_on_hyphens=False)


def gap_notes(runs: pd.DataFrame, width: int = NOTE_WIDTH) -> list[str]:
    """Lines naming the runs among `runs` that are not shown (GAP_STATUSES), by status."""
    lines: list[str] = []
    for status in GAP_STATUSES:
        rows = runs[runs["status"] == status]
        title = f"not shown, {GAP_TITLES.get(status, status)}"
        lines += note_lines(title, run_names(rows, with_error=status == "failed"), width)
    return lines


def _shorten(text: str, limit: int) -> str:
    """`text` with its whitespace runs as single spaces, cut to `limit` characters with '…'."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
