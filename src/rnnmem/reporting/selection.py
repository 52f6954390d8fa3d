"""Which rows of a sweep (`rnnmem.reporting.expected.sweep_runs`) a figure or table shows:
pandas selections by axis value and status, the tasks, lengths and (depth, direction) variants
present, and the memory headline the records carry.

A failed run's values (a depth of 0, a length its task refuses) never choose what is shown
(`not_failed`); a run that is not `finished` is never drawn (`finished`); the runs left out are
named by `rnnmem.reporting.gaps`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def select(runs: pd.DataFrame, **axes: object) -> pd.DataFrame:
    """The rows whose axes equal the given values."""
    mask = np.ones(len(runs), dtype=bool)
    for axis, value in axes.items():
        mask = mask & (runs[axis] == value).fillna(False).to_numpy(dtype=bool)
    return runs[mask]


def finished(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows whose status is `finished`."""
    return runs[runs["status"] == "finished"]


def not_failed(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows whose status is not `failed`: a failed run's values (a depth of 0, a length its
    task refuses) never choose what a figure shows; the figures name it among the runs not
    shown. Frames without a status (curves of finished runs) are returned whole."""
    return runs[runs["status"] != "failed"] if "status" in runs else runs


def tasks_of(runs: pd.DataFrame) -> list[str]:
    """The tasks of the rows, by name."""
    return sorted({t for t in runs["task"] if isinstance(t, str)})


def lengths_of(runs: pd.DataFrame) -> list[int]:
    """The lengths T of the rows (a known one), ascending."""
    return sorted({int(t) for t in runs["seq_len"].dropna()})


def variants(runs: pd.DataFrame) -> list[tuple[int, bool]]:
    """The (depth, bidirectional) pairs of the grid's runs that did not fail, shallowest and
    unidirectional first."""
    known = not_failed(runs).dropna(subset=["depth", "bidirectional"])
    pairs = zip(known["depth"], known["bidirectional"], strict=True)
    return sorted({(int(depth), bool(bidirectional)) for depth, bidirectional in pairs})


def headline_variant(runs: pd.DataFrame) -> tuple[int, bool]:
    """The (depth, bidirectional) that the single-variant figures show: the grid's shallowest
    unidirectional networks, or (1, False) when no run has a known configuration."""
    return (variants(runs) or [(1, False)])[0]


def longest_lengths(runs: pd.DataFrame) -> dict[str, int]:
    """Each task's longest length T in the grid (recorded or missing, not failed)."""
    known = not_failed(runs).dropna(subset=["task", "seq_len"])
    return {task: int(group["seq_len"].max()) for task, group in known.groupby("task", sort=True)}


@dataclass(frozen=True)
class MemoryHeadline:
    """The memory headline a figure or table shows: its `column` and `label`, the column of the
    span shown beside it (`span`; None where there is none) and whether it is a fraction in
    [0, 1] (`fraction`: capacity, coverage) or counts steps (a span, a horizon)."""

    column: str
    label: str
    span: str | None = None
    fraction: bool = False


def memory_headline(runs: pd.DataFrame) -> MemoryHeadline:
    """The memory headline the records carry: item memory's capacity as a fraction of the
    measured lags, with its span, of the task's headline view (`item_capacity_fraction`,
    `item_span`: intervention or choice, `rnnmem.measures.item_memory`; threshold-free and
    absolute) where the runs have it; else, for records that predate it, the intervention
    view's item-memory span (`intervention_span`), memory coverage or the memory horizon."""
    if has_values(runs, "item_capacity_fraction"):
        return MemoryHeadline("item_capacity_fraction",
                              "item-memory capacity (fraction of the measured lags)",
                              span="item_span", fraction=True)
    if has_values(runs, "intervention_span"):
        return MemoryHeadline("intervention_span", "item-memory span (steps)")
    if has_values(runs, "memory_coverage"):
        return MemoryHeadline("memory_coverage", "memory coverage", fraction=True)
    return MemoryHeadline("memory_horizon", "memory horizon (steps)")


def has_values(runs: pd.DataFrame, column: str) -> bool:
    """Whether `runs` has `column` with at least one value."""
    return column in runs and bool(runs[column].notna().any())
