"""Forgetting curves and the memory span, against by-hand binnings of hand-made predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rnnmem.measures.forgetting import curve, forgetting_record, memory_span, pool
from rnnmem.tasks import make_task
from rnnmem.tasks.copy import NUM_CLASSES


def adding_batch(positions: list[tuple[int, int]], length: int) -> tuple[torch.Tensor, ...]:
    """Adding inputs whose markers sit at the given (first, second) positions, values t / T."""
    x = torch.zeros(len(positions), length, 2)
    x[:, :, 0] = torch.arange(length) / length
    for row, (first, second) in enumerate(positions):
        x[row, [first, second], 1] = 1.0
    y = torch.tensor([(first + second) / length for first, second in positions])
    return x, y


def test_adding_curve_is_the_squared_error_grouped_by_first_marker():
    task = make_task("adding", 8)
    positions = [(0, 5), (0, 7), (2, 4), (3, 6), (3, 4)]
    x, y = adding_batch(positions, 8)
    errors = [0.1, 0.3, -0.2, 0.0, 0.4]
    output = (y + torch.tensor(errors)).unsqueeze(1)  # (B, 1)
    record = forgetting_record(task, x, output, y)
    # by hand: position 0 -> lag 7, mean of 0.01 and 0.09; 2 -> lag 5; 3 -> lag 4
    expected = [(0, 7, (0.01 + 0.09) / 2, 2), (2, 5, 0.04, 1), (3, 4, (0.0 + 0.16) / 2, 2)]
    got = [(r["position"], r["lag"], r["value"], r["count"]) for r in record["curve"]]
    assert [g[:2] + g[3:] for g in got] == [e[:2] + e[3:] for e in expected]
    np.testing.assert_allclose([g[2] for g in got], [e[2] for e in expected], rtol=1e-6)
    assert record["metric"] == "mse" and record["threshold"] == 0.01
    # lag 4: 0.08 fails at once (not < 0.01): nothing is remembered at the shortest lag
    assert record["memory_span"] == 0 and record["max_lag"] == 7


def test_a_bidirectional_net_reads_each_sequence_at_its_items_nearest_readout():
    """Figures 4, 7 and 8 measure a bidirectional net's lags alike: to the nearest readout, the
    backward one reading position p after p steps. A sequence's lag is then the larger of its
    markers' min(T - 1 - p, p)."""
    task = make_task("adding", 8)
    positions = [(0, 5), (0, 7), (2, 4), (3, 6), (3, 4)]
    x, y = adding_batch(positions, 8)
    output = y.unsqueeze(1)
    record = forgetting_record(task, x, output, y, bidirectional=True)
    lags = sorted({r["lag"] for r in record["curve"]})
    assert lags == sorted({max(min(7 - a, a), min(7 - b, b)) for a, b in positions}) == [0, 2, 3]
    assert record["max_lag"] == 3


def test_adding_span_is_the_largest_lag_before_the_first_failure():
    task = make_task("adding", 8)
    positions = [(0, 5), (1, 5), (2, 5), (3, 5)]  # lags 7, 6, 5, 4
    x, y = adding_batch(positions, 8)
    output = y + torch.tensor([0.2, 0.05, 0.01, 0.0])  # squared: 0.04, 0.0025, 1e-4, 0
    record = forgetting_record(task, x, output, y)
    assert record["memory_span"] == 6  # lags 4, 5, 6 pass; 7 fails


def test_copy_curve_is_recall_accuracy_per_position_and_per_symbol():
    task = make_task("copy", 3)
    x, y = task.sample(4, torch.Generator().manual_seed(0))
    output = torch.nn.functional.one_hot(y, NUM_CLASSES).float() * 5
    wrong = [(0, 0), (0, 4), (1, 4), (3, 9)]  # (sequence, recall position) answered blank
    for row, k in wrong:
        output[row, task.loss_anchor + k] = 0.0
        output[row, task.loss_anchor + k, 0] = 5.0
    record = forgetting_record(task, x, output, y)
    accuracy = np.ones(10)
    for _, k in wrong:
        accuracy[k] -= 0.25
    assert [r["position"] for r in record["curve"]] == list(range(10))
    assert {r["lag"] for r in record["curve"]} == {3 + 10}  # every symbol waits T + 10 steps
    np.testing.assert_allclose([r["value"] for r in record["curve"]], accuracy)
    symbols = y[:, task.loss_anchor:].numpy()
    by_hand = {}
    correct = np.ones_like(symbols, dtype=float)
    for row, k in wrong:
        correct[row, k] = 0.0
    for symbol in np.unique(symbols):
        by_hand[int(symbol)] = correct[symbols == symbol].mean()
    assert {r["symbol"]: r["value"] for r in record["by_symbol"]} == pytest.approx(by_hand)
    assert record["memory_span"] == 0  # overall per-lag accuracy 0.9 < 0.99
    output[:, task.loss_anchor:] = torch.nn.functional.one_hot(
        y[:, task.loss_anchor:], NUM_CLASSES).float()
    assert forgetting_record(task, x, output, y)["memory_span"] == 13


def test_memory_span_of_constructed_curves():
    adding, copy = make_task("adding", 40), make_task("copy", 10)
    lags = np.arange(20, 40)
    rising = 0.001 * np.exp((lags - 20) / 4)  # crosses 0.01 between lag 29 and 30
    assert memory_span(lags, rising, adding) == 29
    assert memory_span(lags[::-1], rising[::-1], adding) == 29  # order does not matter
    assert memory_span(lags, np.full(20, 0.005), adding) == 39  # flat: the largest measured
    assert memory_span(lags, np.full(20, 0.01), adding) == 0  # not strictly below
    dip = np.where(lags == 25, 0.5, 0.001)  # a failure in the middle ends the span
    assert memory_span(lags, dip, adding) == 24
    assert memory_span([20, 30], [0.995, 0.98], copy) == 20  # larger is better for copy
    assert memory_span([20], [np.nan], copy) == 0


def test_pool_weights_groups_by_their_item_counts():
    curves = pd.DataFrame({"lag": [5, 5, 6], "value": [0.1, 0.4, 0.2], "count": [3, 1, 2]})
    pooled = pool(curves)
    assert list(pooled["lag"]) == [5, 6] and list(pooled["count"]) == [4, 2]
    np.testing.assert_allclose(pooled["value"], [(0.3 + 0.4) / 4, 0.2])
    items = {"position": np.array([1, 1, 0]), "lag": np.array([2, 2, 3]),
             "value": np.array([1.0, 3.0, 5.0])}
    assert curve(items).to_dict("records") == [
        {"position": 0, "lag": 3, "value": 5.0, "count": 1},
        {"position": 1, "lag": 2, "value": 2.0, "count": 2}]
