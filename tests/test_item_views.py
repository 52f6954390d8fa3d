"""Item memory's views side by side (`rnnmem.reporting.item_views`), on hand-made frames: the
summaries over seeds, the rule that says two views disagree, and its words."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rnnmem.reporting.curves import ITEM_CURVE_COLUMNS
from rnnmem.reporting.item_views import (
    MARGIN,
    items_text,
    readings,
    run_views,
    side,
    view_summaries,
    view_text,
)

CONFIG = {"task": "adding", "cell": "gru", "depth": 1, "bidirectional": False, "seq_len": 10}


def per_run(rows: list[tuple]) -> pd.DataFrame:
    """`run_views` rows of one configuration at T = 10: (seed, role, view, capacity, low, high,
    span, bound, measured lags, fewest items, most items)."""
    names = ["seed", "role", "view", "capacity", "capacity_low", "capacity_high", "span",
             "span_is_bound", "measured_lags", "min_items", "max_items"]
    frame = pd.DataFrame(rows, columns=names).assign(**CONFIG)
    return frame.assign(capacity_fraction=frame["capacity"] / frame["measured_lags"])


RUNS = per_run([
    (0, "probe", "gradient", 6.0, 5.5, 6.5, 5.0, False, 10, 30, 30),
    (0, "end", "intervention", 9.0, 8.6, 9.4, 9.0, True, 10, 30, 30),
    (0, "storage", "storage", 5.0, 4.8, 5.2, 4.0, False, 10, 120, 130),
    (1, "probe", "gradient", 7.0, 6.4, 7.6, 6.0, False, 10, 30, 31),
    (1, "end", "intervention", 9.5, 9.2, 9.8, 9.0, True, 10, 30, 31),
    (1, "storage", "storage", 9.3, 9.0, 9.6, 9.0, True, 10, 125, 126),
])


def test_view_summaries_average_seeds_and_join_their_intervals():
    summary = view_summaries(RUNS)
    assert list(summary["role"]) == ["probe", "end", "storage"]  # the roles' order
    probe, end, storage = (summary.iloc[k] for k in range(3))
    assert (probe["capacity"], probe["capacity_low"], probe["capacity_high"]) == (6.5, 5.5, 7.6)
    assert probe["fraction"] == pytest.approx(0.65) and probe["span"] == 5.5
    assert end["span_is_bound"] and not storage["span_is_bound"]  # every seed, or not
    assert (end["min_items"], end["max_items"], storage["min_items"]) == (30, 31, 120)
    assert summary["seeds"].tolist() == [2, 2, 2]
    assert view_text(end) == "9.2 [8.6, 9.8] of 10 = 0.93; span >= 9"
    assert view_text(probe) == "6.5 [5.5, 7.6] of 10 = 0.65; span 5.5"
    assert items_text(summary) == "30-31; storage 120-130"


def test_two_views_disagree_only_apart_beyond_their_intervals_in_every_seed():
    # gradient below intervention in both seeds, by 0.3 and 0.25 of the lags
    assert side(RUNS, "probe", "end") == -1 and side(RUNS, "end", "probe") == 1
    # storage below in seed 0, overlapping in seed 1: not a disagreement
    assert side(RUNS, "storage", "end") == 0
    # disjoint intervals closer than MARGIN agree
    near = RUNS.assign(capacity=np.where(RUNS["role"] == "probe", 8.3, RUNS["capacity"]),
                       capacity_low=np.where(RUNS["role"] == "probe", 8.2,
                                             RUNS["capacity_low"]),
                       capacity_high=np.where(RUNS["role"] == "probe", 8.5,
                                              RUNS["capacity_high"]))
    assert (9.0 - 8.3) / 10 < MARGIN and side(near[near["seed"] == 0], "probe", "end") == 0
    # a seed without a view's interval does not count; none with both: no verdict
    one = RUNS.assign(capacity_low=np.where(RUNS["seed"] == 1, math.nan, RUNS["capacity_low"]))
    assert side(one, "storage", "end") == -1
    assert side(RUNS[RUNS["role"] != "end"], "probe", "end") == 0


def test_readings_name_the_views_and_what_their_disagreement_means():
    assert readings(RUNS) == ["gradient below intervention: the output moves more over the "
                              "change than its derivative at v_p says (jumps or curvature)"]
    stored = RUNS.assign(capacity=np.where(RUNS["role"] == "end", 0.5, RUNS["capacity"]),
                         capacity_low=np.where(RUNS["role"] == "end", 0.0,
                                               RUNS["capacity_low"]),
                         capacity_high=np.where(RUNS["role"] == "end", 1.0,
                                                RUNS["capacity_high"]))
    assert readings(stored) == [
        "gradient above intervention: the output moves less over the change than its "
        "derivative at v_p says (curvature)",
        "storage above intervention: in the state, not in the output (kept, not used)"]
    other = stored.assign(view=stored["view"].replace({"gradient": "slope"}))
    assert readings(other)[0] == "slope above intervention"  # a pair without a reading


def test_run_views_read_each_views_record_headlines_and_its_curves_items(tmp_path):
    """One finished run: its record's headlines per view, and from its curves the measured
    lags and the fewest and most items at one of them (an unmeasured lag counts for neither)."""
    run_dir = str(tmp_path / "run")
    curves = pd.DataFrame([
        {**CONFIG, "seed": 0, "run_dir": run_dir, "role": role, "view": view, "lag": lag,
         "memory": math.nan if count < 10 else 0.5, "stderr": 0.1, "count": count,
         "low": 0.3, "high": 0.7, "measured": count >= 10}
        for role, view in (("probe", "gradient"), ("end", "intervention"))
        for lag, count in ((0, 3), (1, 30), (2, 45))], columns=ITEM_CURVE_COLUMNS)
    runs = pd.DataFrame([{**CONFIG, "seed": 0, "run_dir": run_dir, "status": "finished",
                          "gradient_capacity": 1.0, "gradient_span": 2.0,
                          "intervention_capacity": 1.5, "intervention_capacity_low": 1.2,
                          "intervention_capacity_high": 1.8, "intervention_span": 2.0,
                          "intervention_span_is_bound": True}])
    views = run_views(runs, curves).set_index("view")
    assert views.loc["gradient", "capacity"] == 1.0
    assert math.isnan(views.loc["gradient", "capacity_low"])  # not in this record
    assert views.loc["intervention", "capacity_high"] == 1.8
    assert views.loc["intervention", "span_is_bound"]
    assert not views.loc["gradient", "span_is_bound"]
    assert views["measured_lags"].tolist() == [2, 2]
    assert (views["min_items"].tolist(), views["max_items"].tolist()) == ([30, 30], [45, 45])
    assert run_views(runs.assign(status="diverged"), curves).empty
