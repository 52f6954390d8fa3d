"""Figure 10's points: each cell's metric and item-memory capacities against its state size, on
hand-made run rows, and the rank correlation that states the trend."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rnnmem.reporting.state_size import quantities, spearman, state_points, trends


def rows() -> pd.DataFrame:
    """MQAR at T = 32 and 16 (the longest is shown), three cells, two seeds each, one failed."""
    base = {"task": "mqar", "depth": 1, "bidirectional": False, "task_options":
            '{"num_pairs": 2, "power_a": 0.01, "vocab_size": 8}'}
    made = []
    for cell, size, accuracy in (("gru", 64, (0.5, 0.6)), ("lstm", 128, (0.7, 0.9)),
                                 ("s6", 1024, (1.0, 0.98))):
        for seed, acc in enumerate(accuracy):
            made.append({**base, "cell": cell, "seq_len": 32, "seed": seed, "status": "finished",
                         "state_elements": size, "n_params": 10_000, "test_acc": acc,
                         "probability_capacity_fraction": acc / 2,
                         "choice_capacity_fraction": acc / 3,
                         "storage_capacity_fraction": 0.1 * seed})
    made.append({**base, "cell": "gru", "seq_len": 32, "seed": 2, "status": "failed",
                 "state_elements": 64, "n_params": 10_000, "test_acc": np.nan})
    made.append({**base, "cell": "gru", "seq_len": 16, "seed": 0, "status": "finished",
                 "state_elements": 64, "n_params": 10_000, "test_acc": 0.1})
    return pd.DataFrame(made)


def test_points_are_the_mean_and_seed_range_of_each_cell_at_the_longest_length():
    points = state_points(rows())
    accuracy = points[points["quantity"] == "metric"]
    assert accuracy["cell"].tolist() == ["lstm", "gru", "s6"]  # the registry's order
    assert set(accuracy["seq_len"]) == {32}
    lstm = accuracy[accuracy["cell"] == "lstm"].iloc[0]
    assert (lstm["mean"], lstm["low"], lstm["high"], lstm["seeds"]) == pytest.approx(
        (0.8, 0.7, 0.9, 2))
    assert set(points["quantity"]) == {"metric", "probability", "choice", "storage"}
    choice = points[(points["quantity"] == "choice") & (points["cell"] == "s6")].iloc[0]
    assert choice["mean"] == pytest.approx((1.0 + 0.98) / 2 / 3)


def test_the_views_follow_the_kind_of_item():
    assert [q for q, _ in quantities("adding", rows())] == [
        "metric", "gradient", "intervention", "storage"]
    assert [q for q, _ in quantities("mqar", rows())] == [
        "metric", "probability", "choice", "storage"]


def test_spearman_by_hand_and_no_trend_below_four_points():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks (1, 2, 3, 4) against (1, 3, 2, 4): 1 - 6 * 2 / (4 * 15) = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert math.isnan(spearman([1, 2, 3], [1, 2, 3]))
    trend = trends(state_points(rows()))
    assert trend["points"].max() == 3 and trend["rho"].isna().all()
