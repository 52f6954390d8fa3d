"""Forgetting curves: the held-out error as a function of lag, and the memory span.

A task splits its held-out metric into items (`MemoryTask.recall_items`): each item's value
(adding: the squared error of one sequence; copy: 1 if one recalled symbol is right), the
`position` of the information it needs and its `lag`, the number of steps between that position
and the readout. The forgetting curve is the mean value per group of items,

    e(l) = (1 / n_l) sum_{i: lag_i = l} value_i,        n_l = #{i: lag_i = l},

kept per (position, lag) so that a bidirectional network, which also reads a position from the
other end, can be shown against either. Pooling several runs (seeds, lengths T) weights each
group by its item count, so a pooled curve is the mean over all pooled items at that lag.

Memory span. With the task's solved rule applied per lag (adding: e(l) < 0.01; copy:
e(l) >= 0.99), `memory_span` is the largest measured lag L such that every measured lag
l <= L meets the rule: how long ago the network can still use what it saw, as far as the
held-out set shows. Two limits: the span cannot exceed the largest measured lag (`max_lag`; a
span equal to it is a lower bound), and it is 0 when the smallest measured lag already fails
(nothing is known below the smallest measured lag: adding measures lags T/2 .. T - 1, copy
only T + 10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor

from rnnmem.tasks import MemoryTask

KEYS = ("position", "lag")  # the grouping every task provides


def curve(items: Mapping[str, np.ndarray], by: Sequence[str] = KEYS) -> pd.DataFrame:
    """Mean item value per group of `by`: columns *by, value, count, sorted by `by`."""
    frame = pd.DataFrame({key: np.asarray(items[key]) for key in (*by, "value")})
    grouped = frame.groupby(list(by), sort=True)["value"]
    out = pd.DataFrame({"value": grouped.mean(), "count": grouped.size()}).reset_index()
    return out.astype({"count": "int64"})


def pool(curves: pd.DataFrame, by: Sequence[str] = ("lag",)) -> pd.DataFrame:
    """Curves (columns *by, value, count, possibly from several runs) merged per group of
    `by`, each weighted by its item count: the mean over all pooled items."""
    weighted = curves.assign(total=curves["value"] * curves["count"])
    grouped = weighted.groupby(list(by), sort=True)[["total", "count"]].sum()
    out = pd.DataFrame({"value": grouped["total"] / grouped["count"], "count": grouped["count"]})
    return out.reset_index().astype({"count": "int64"})


def memory_span(lags: Sequence[int] | np.ndarray, values: Sequence[float] | np.ndarray,
                task: MemoryTask) -> int:
    """The largest measured lag up to which every measured lag meets `task`'s solved rule
    (0 when the smallest one fails; see the module docstring). `lags` need not be sorted."""
    lags, values = np.asarray(lags), np.asarray(values, dtype=np.float64)
    span = 0
    for index in np.argsort(lags, kind="stable"):
        if not task.meets_threshold(values[index]):
            break
        span = int(lags[index])
    return span


def forgetting_record(task: MemoryTask, x: Tensor, output: Tensor, target: Tensor,
                      bidirectional: bool = False) -> dict[str, Any]:
    """What a run stores: the curve per (position, lag), one curve per task-specific key
    (copy: `by_symbol`), the per-lag curve's `memory_span` and `max_lag`, the metric and its
    threshold (JSON-serialisable). For a `bidirectional` network the lag is the item's to the
    nearest readout where the task states it (`lag_bidirectional` of `recall_items`), the lag
    item memory uses too (`rnnmem.tasks.items.MemoryItems.lags`)."""
    items = dict(task.recall_items(x, output, target))
    nearest = items.pop("lag_bidirectional", None)
    if bidirectional and nearest is not None:
        items["lag"] = nearest
    by_position = curve(items)
    by_lag = pool(by_position)
    record: dict[str, Any] = {
        "metric": task.metric,
        "threshold": task.solved_threshold,
        "higher_is_better": task.higher_is_better,
        "curve": by_position.to_dict("records"),
        "memory_span": memory_span(by_lag["lag"], by_lag["value"], task),
        "max_lag": int(by_lag["lag"].max()),
    }
    for key in sorted(set(items) - {*KEYS, "value"}):
        record[f"by_{key}"] = curve(items, (key,)).to_dict("records")
    return _plain(record)


def _plain(value: Any) -> Any:
    """numpy scalars inside lists and dicts as Python numbers, for JSON."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
