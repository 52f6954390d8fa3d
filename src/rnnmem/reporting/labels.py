"""What the records' names read as in figures and tables: cells in the registry's order and by
their labels, each task's solved metric and axis texts (as its task class states them), the
(depth, direction) variants, the gate that keeps a cell's state, and parameter counts.

Labels only: nothing here selects rows or reduces values (`rnnmem.reporting.selection`,
`rnnmem.reporting.seeds`)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from rnnmem.config import direction_label
from rnnmem.models import CELLS
from rnnmem.tasks import TASKS, MemoryTask, make_task

CELL_ORDER = tuple(CELLS)  # the registry's order (the paper's cells first); others by name
CELL_LABELS = {name: cell.label for name, cell in CELLS.items()}
# The gate that decides how much of the previous state survives a step (1 = keep it all), and
# its label, per gated cell.
MEMORY_GATES = {"lstm": ("forget", "forget gate $f_t$"), "gru": ("update", "update gate $z_t$")}


@dataclass(frozen=True)
class MetricSpec:
    """How a task's final held-out metric is read and drawn (from its task class): column,
    axis label, memoryless value and its label, solved threshold, direction, log scale."""

    column: str
    label: str
    baseline: float
    baseline_label: str
    threshold: float
    higher_is_better: bool
    log: bool


def recorded_task(runs: pd.DataFrame, task: str, length: int | None = None) -> MemoryTask:
    """`task` as `runs` ran it: at `length` (None: the shortest length its rows ran), with the
    options (`task_options`) of its first row of that length, else of any length; with the
    task's default options where no row states any (frames of hand-built rows, records read
    without the column). What a figure draws from a task (its baseline, where the loss reads
    the state) then matches the runs, whatever their vocabulary or number of pairs."""
    rows = runs[runs["task"] == task] if "task" in runs else runs.iloc[0:0]
    if length is not None and (rows["seq_len"] == length).any():
        rows = rows[rows["seq_len"] == length]
    if length is None:
        known = rows["seq_len"].dropna() if "seq_len" in rows else []
        length = int(min(known)) if len(known) else TASKS[task].min_seq_len
    stated = [text for text in rows.get("task_options", []) if isinstance(text, str)]
    return make_task(task, int(length), **(json.loads(stated[0]) if stated else {}))


def metric_spec(task: str, runs: pd.DataFrame) -> MetricSpec:
    """The spec of `task`'s solved metric, as its task class states it, with the memoryless
    value of the task as `runs` ran it (`recorded_task`); a task unknown to the registry
    (`rnnmem.tasks.TASKS`) is read by its test loss."""
    kind = TASKS.get(task)
    if kind is None:
        return MetricSpec("test_loss", "test loss", math.nan, "", math.nan, False, True)
    example = recorded_task(runs, task)
    return MetricSpec(example.metric_column, example.metric_label, example.metric_baseline,
                      example.metric_baseline_label, example.solved_threshold,
                      example.higher_is_better, example.metric_log_scale)


def task_text(task: str, attribute: str, default: str) -> str:
    """A label that `task`'s class states (`length_label`, `loss_label`), or `default`."""
    kind = TASKS.get(task)
    return str(getattr(kind, attribute, default)) if kind is not None else default


def ordered_cells(cells: Iterable[object]) -> list[str]:
    """The cells present, in the registry's order (RNN, LSTM, GRU, ...), then any other by name."""
    present = {c for c in cells if isinstance(c, str)}
    known = [c for c in CELL_ORDER if c in present]
    return known + sorted(present - set(known))


def cell_label(cell: str) -> str:
    """The registry's label of `cell` ('LSTM', 'vanilla RNN'); an unknown name as it is."""
    return CELL_LABELS.get(cell, cell)


# What each item-memory view measures (`rnnmem.measures.item_memory`): its name and formula.
VIEW_LABELS = {
    "gradient": ("gradient view, a derivative", r"$\partial\hat{y} / \partial v_p$"),
    "intervention": ("intervention view", r"$(\hat{y}' - \hat{y}) / (u - v_p)$"),
    "probability": ("probability view", r"$(P'(s') - P(s')) / (1 - P(s'))$"),
    "choice": ("choice view", r"$(F - F_0) / (1 - F_0)$, F: argmax is s'"),
}
STORAGE_LABELS = {"value": ("storage", r"$R^2$ of a linear read-out of $v_p$"),
                  "symbol": ("storage", "linear read-out's accuracy, chance removed")}


def view_label(view: str, task: str | None = None, stage: str = "") -> str:
    """What one item-memory view measures, for an axis: its name (with `stage`, e.g. 'end'),
    then its formula on a second line; storage by the task's kind of item (a value's R^2, a
    symbol's chance-corrected accuracy)."""
    if view == "storage":
        kind = getattr(TASKS.get(task or ""), "item_kind", None)
        name, formula = STORAGE_LABELS.get(kind, ("storage", "linear read-out of the item"))
    else:
        name, formula = VIEW_LABELS.get(view, (f"{view} view", ""))
    head = f"{name} ({stage})" if stage else name
    return f"{head}:\n{formula}" if formula else head


def variant_label(depth: int, bidirectional: bool) -> str:
    """'1 layer, unidirectional', '2 layers, bidirectional'."""
    layers = f"{depth} layer" + ("s" if depth > 1 else "")
    return f"{layers}, {'bidirectional' if bidirectional else 'unidirectional'}"


def variant_slug(depth: int, bidirectional: bool) -> str:
    """The file-name part of a variant: 'd1_uni', 'd2_bi'."""
    return f"d{depth}_{direction_label(bidirectional)}"


def param_counts(runs: pd.DataFrame, cell: str | None = None) -> str:
    """The parameter counts (`n_params`) of `runs` (of one `cell`), '4.6K' or a range
    '4.6K-5.9K'; '' where the records predate the count."""
    rows = runs if cell is None else runs[runs["cell"] == cell]
    counts = rows["n_params"].dropna() if "n_params" in rows else pd.Series(dtype=float)
    if counts.empty:
        return ""
    low, high = (f"{value / 1e3:.3g}K" for value in (counts.min(), counts.max()))
    return low if low == high else f"{low}-{high}"
