"""Item memory's views side by side (figures 8 and 9): per configuration and T, over the
finished seeds, each view's capacity (in lags, as a fraction of the measured lags, and the
seeds' bootstrap intervals), its span, the items behind each lag, and where two views
disagree.

The views (`rnnmem.measures.item_memory`) by role: 'probe' (gradient or probability, at the
last probe), 'end' (intervention or choice, at the end: the task's headline) and 'storage' (a
linear read-out of each item from the head's input, at the end). Over seeds: means, and the
interval from the lowest seed's low end to the highest seed's high end (it holds every seed's
95% interval and the spread between seeds).

Two views disagree when, in every seed that has both, their capacity intervals (as fractions
of each view's measured lags) are disjoint, on the same side, and their capacity fractions at
least MARGIN apart: one view's capacity then lies above the other's beyond the bootstrap's
reach and by a tenth of perfect memory or more, in every seed. The reading of a disagreement:

    gradient below             the output moves more over the change of 1/2 than its
    intervention               derivative at v_p says: jumps (orth's modReLU with b > 0
                               switches units on and off, which a derivative does not see and
                               an intervention counts) or curvature (a saturating tanh)
    gradient above             the output moves less over the change than the derivative says
    intervention               (curvature)
    probability below choice   the argmax follows the swap more often than the probability
                               moves toward it (a choice turns on a small shift)
    probability above choice   the probability moves toward the swapped symbol, the argmax
                               seldom follows
    storage above end          the state holds the item, the output does not follow it:
                               kept, not used
    storage below end          the output follows the item further than a linear read-out of
                               the state recovers it, item by item (an exact adder's state
                               holds the sum u_p1 + u_p2, R^2 = 1/2 per value): used, kept mixed
                               with other items
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnmem.reporting.curves import CONFIG_AXES, ROLES
from rnnmem.reporting.outcomes import steps_text
from rnnmem.reporting.selection import finished

KEYS = [*CONFIG_AXES, "seq_len"]  # one configuration at one T
MARGIN = 0.1  # of perfect memory: two views' capacity fractions closer than this agree
SUMMARY_COLUMNS = [*KEYS, "role", "view", "seeds", "capacity", "capacity_low", "capacity_high",
                   "fraction", "measured_lags", "span", "span_is_bound", "min_items",
                   "max_items"]
READINGS = {  # (first view, end view, side): what their disagreement means
    ("gradient", "intervention", -1): "gradient below intervention: the output moves more over "
                                      "the change than its derivative at v_p says (jumps or "
                                      "curvature)",
    ("gradient", "intervention", 1): "gradient above intervention: the output moves less over "
                                     "the change than its derivative at v_p says (curvature)",
    ("probability", "choice", -1): "probability below choice: the argmax follows the swap more "
                                   "often than the probability moves toward it",
    ("probability", "choice", 1): "probability above choice: the probability moves toward the "
                                  "swapped symbol, the argmax seldom follows",
    ("storage", None, 1): "storage above {b}: in the state, not in the output (kept, not used)",
    ("storage", None, -1): "storage below {b}: in the output more than a linear read-out of the "
                           "state recovers (used, kept mixed)",
}


@dataclass(frozen=True)
class SeedView:
    """One run's view: its capacity and its interval as fractions of its measured lags."""

    point: float
    low: float
    high: float


RUN_COLUMNS = [*KEYS, "seed", "role", "view", "capacity", "capacity_low", "capacity_high",
               "capacity_fraction", "span", "span_is_bound", "measured_lags", "min_items",
               "max_items"]
HEADLINES = ("capacity", "capacity_low", "capacity_high", "capacity_fraction", "span")


def run_views(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """One row per finished run and view (role) that has a curve: the run's axes, role, view,
    the record's headlines of that view (`<view>_capacity`, `_capacity_low`, `_capacity_high`,
    `_capacity_fraction`, `_span`, `_span_is_bound` of `load_run`; NaN where a record predates
    one) and, from its per-lag curve (`rnnmem.reporting.curves.item_memory_curves`), the
    measured lags and the fewest and most items at a measured lag. Columns RUN_COLUMNS."""
    done = finished(runs).set_index("run_dir")
    rows = []
    for (run_dir, role, view), group in curves.groupby(["run_dir", "role", "view"], sort=False):
        if run_dir not in done.index:
            continue
        run = done.loc[run_dir]
        counts = group.loc[group["measured"], "count"]
        bound = run.get(f"{view}_span_is_bound", False)
        rows.append({
            **{axis: group[axis].iloc[0] for axis in [*KEYS, "seed"]}, "role": role,
            "view": view,
            **{field: float(run.get(f"{view}_{field}", math.nan)) for field in HEADLINES},
            "span_is_bound": False if pd.isna(bound) else bool(bound),
            "measured_lags": len(counts),
            "min_items": int(counts.min()) if len(counts) else 0,
            "max_items": int(counts.max()) if len(counts) else 0,
        })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def view_summaries(per_run: pd.DataFrame) -> pd.DataFrame:
    """`run_views` over seeds, one row per configuration, T and role (ROLES' order):
    `capacity`, `fraction`, `span` the means over seeds with a value, `capacity_low` and
    `capacity_high` the lowest low and highest high end of the seeds' intervals,
    `measured_lags` the fewest over seeds, `span_is_bound` true where every seed's span is
    the largest lag, `min_items` and `max_items` the fewest and most items at a measured lag
    over seeds. Columns SUMMARY_COLUMNS."""
    rows = []
    ranked = per_run.assign(rank=per_run["role"].map({r: k for k, r in enumerate(ROLES)}))
    for (*key, _, role), group in ranked.groupby([*KEYS, "rank", "role"], sort=True):
        rows.append({
            **dict(zip(KEYS, key, strict=True)), "role": role, "view": group["view"].iloc[0],
            "seeds": len(group), "capacity": _mean(group["capacity"]),
            "capacity_low": _extreme(group["capacity_low"], min),
            "capacity_high": _extreme(group["capacity_high"], max),
            "fraction": _mean(group["capacity_fraction"]),
            "measured_lags": int(group["measured_lags"].min()),
            "span": _mean(group["span"]), "span_is_bound": bool(group["span_is_bound"].all()),
            "min_items": int(group["min_items"].min()),
            "max_items": int(group["max_items"].max()),
        })
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _mean(values: pd.Series) -> float:
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if len(finite) else math.nan


def _extreme(values: pd.Series, pick: object) -> float:
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(pick(finite)) if len(finite) else math.nan


def side(per_run: pd.DataFrame, first: str, second: str) -> int:
    """+1 when `first`'s capacity interval lies above `second`'s and its capacity at least
    MARGIN above, in every seed that has both (as fractions of each view's measured lags), -1
    when below in every such seed, 0 otherwise (close or overlapping in some seed, or no seed
    has both). `per_run`: one configuration and T's `run_views`."""
    sides = []
    for _, seed in per_run.groupby("seed", sort=True):
        a, b = (_interval(seed[seed["role"] == role]) for role in (first, second))
        if a is None or b is None:
            continue
        apart = abs(a.point - b.point) >= MARGIN
        sides.append(0 if not apart else 1 if a.low > b.high else -1 if a.high < b.low else 0)
    if not sides or any(s != sides[0] for s in sides):
        return 0
    return sides[0]


def _interval(rows: pd.DataFrame) -> SeedView | None:
    if rows.empty:
        return None
    row = rows.iloc[0]
    lags = row["measured_lags"]
    point, low, high = row["capacity"], row["capacity_low"], row["capacity_high"]
    if not lags or not all(math.isfinite(v) for v in (point, low, high)):
        return None
    return SeedView(point / lags, low / lags, high / lags)


def readings(per_run: pd.DataFrame) -> list[str]:
    """Where one configuration and T's views disagree (`side`): the probe view against the end
    view, storage against the end view, each in words (READINGS, or 'a above b'); [] where
    they agree."""
    names = dict(zip(per_run["role"], per_run["view"], strict=True))
    found = []
    for first in ("probe", "storage"):
        if first not in names or "end" not in names:
            continue
        direction = side(per_run, first, "end")
        if not direction:
            continue
        pair = (names[first], None if first == "storage" else names["end"], direction)
        plain = f"{{a}} {'above' if direction > 0 else 'below'} {{b}}"
        found.append(READINGS.get(pair, plain).format(a=names[first], b=names["end"]))
    return found


def view_text(row: pd.Series) -> str:
    """One summary row (`view_summaries`) in words: 'MC [low, high] of N = fraction; span S'
    (means over seeds, one decimal, two for one lag; the interval from the lowest seed's low
    end to the highest's high end; '>= ' before a span that every seed has at its largest lag:
    a lower bound)."""
    digits = 2 if row["measured_lags"] == 1 else 1  # one lag: the capacity is its memory
    if not math.isfinite(row["capacity"]):
        capacity = "capacity n/a"
    else:
        interval = (f" [{row['capacity_low']:.{digits}f}, {row['capacity_high']:.{digits}f}]"
                    if math.isfinite(row["capacity_low"]) else "")
        capacity = (f"{row['capacity']:.{digits}f}{interval} of {int(row['measured_lags'])} = "
                    f"{row['fraction']:.2f}")
    if not math.isfinite(row["span"]):
        return f"{capacity}; span n/a"
    bound = ">= " if row["span_is_bound"] else ""
    return f"{capacity}; span {bound}{steps_text(row['span'])}"


def items_text(rows: pd.DataFrame) -> str:
    """The items behind each measured lag of one configuration and T (its `view_summaries`
    rows): the item set's fewest (to most) per lag, then storage's set: '30; storage 388'."""
    parts = []
    for role, prefix in (("end", ""), ("storage", "storage ")):
        mine = rows[rows["role"] == role]
        if mine.empty:
            continue
        low, high = int(mine["min_items"].min()), int(mine["max_items"].max())
        parts.append(prefix + (f"{low}" if low == high else f"{low}-{high}"))
    return "; ".join(parts) or "n/a"
