"""What the figures show, computed apart from the drawing (`rnnmem.reporting.outcomes`,
`rnnmem.reporting.seeds`) on small hand-made frames, and the drawing's one seed-band rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnmem.reporting.figures.drawing import close, new_figure, seed_band
from rnnmem.reporting.outcomes import capacity_curve, depth_direction_grid, lag_range
from rnnmem.reporting.seeds import SeedBand, log_band, range_band
from rnnmem.tasks import make_task

NAN = float("nan")
COLUMNS = ["task", "cell", "depth", "bidirectional", "seq_len", "seed", "status", "solved",
           "intervention_span"]


def frame(rows: list[tuple]) -> pd.DataFrame:
    runs = pd.DataFrame(rows, columns=COLUMNS)
    return runs.astype({"depth": "Int64", "seq_len": "Int64", "seed": "Int64",
                        "bidirectional": "boolean"})


# (cell, depth, bidirectional, T, seed, status, solved, span) of the adding task; a copy run
# that failed before its length was known.
GRID = frame([
    ("adding", "rnn", 1, False, 10, 0, "finished", True, 5.0),
    ("adding", "rnn", 1, False, 10, 1, "finished", True, 7.0),
    ("adding", "rnn", 1, False, 20, 0, "finished", False, 3.0),
    ("adding", "rnn", 1, False, 20, 1, "failed", False, NAN),
    ("adding", "rnn", 2, True, 10, 0, "missing", False, NAN),
    ("adding", "rnn", 2, True, 20, 0, "missing", False, NAN),
    ("adding", "gru", 1, False, 10, 0, "finished", True, 9.0),
    ("adding", "gru", 1, False, 10, 1, "finished", True, 9.0),
    ("adding", "gru", 1, False, 20, 0, "finished", True, 19.0),
    ("adding", "gru", 1, False, 20, 1, "diverged", False, NAN),
    ("adding", "gru", 2, True, 10, 0, "finished", False, 2.0),
    ("adding", "gru", 2, True, 10, 1, "finished", False, 4.0),
    ("adding", "gru", 2, True, 20, 0, "finished", True, 10.0),
    ("adding", "gru", 2, True, 20, 1, "finished", True, 12.0),
    ("copy", None, None, None, None, 0, "failed", False, NAN),
])


def test_depth_direction_grid_holds_the_span_at_the_longest_length_and_the_longest_solved():
    grid = depth_direction_grid(GRID)
    assert grid.tasks == ["adding", "copy"] and list(grid.grids) == ["adding"]
    assert grid.cells == ["rnn", "gru"] and grid.variants == [(1, False), (2, True)]
    assert (grid.column, grid.label) == ("intervention_span", "item-memory span (steps)")
    adding = grid.grids["adding"]
    assert adding.lengths == [10, 20] and adding.longest == 20
    assert adding.reach == make_task("adding", 20).loss_anchor == 19
    # rnn: one finished seed at T = 20 (the other failed); gru d1: the diverged seed has none
    np.testing.assert_allclose(adding.headline, [[3.0, NAN], [19.0, 11.0]])
    assert adding.headline_text == [["3.0*", "missing"], ["19.0*", "11.0 ± 1.4"]]
    # T = 10 solved by both seeds; at T = 20 one of two completed seeds is not a majority;
    # gru d2 solves T = 20 only, so its longest is 20 (index 2 of none, 10, 20)
    np.testing.assert_allclose(adding.solved, [[1, NAN], [1, 2]])
    assert adding.solved_text == [["10*", "missing"], ["10*", "20"]]


def test_depth_direction_grid_reads_memory_coverage_from_older_records():
    runs = GRID.drop(columns="intervention_span").assign(memory_coverage=0.25)
    grid = depth_direction_grid(runs)
    adding = grid.grids["adding"]
    assert grid.column == "memory_coverage" and adding.reach is None
    assert adding.headline_text[1][1] == "0.25 ± 0.00"  # two decimals for a fraction


def test_depth_direction_grid_holds_capacity_with_span_and_each_columns_lags():
    """Records with item memory's capacity: its fraction is the headline (two decimals), the
    span its second line, both means over the finished seeds; each column's lags are its own
    (a bidirectional adding net's end at (T - 1) // 2); the other headlines are not read."""
    capacity = [0.5, 0.7, 0.2, NAN, 1.0, 1.0, NAN, NAN, 0.9, NAN, 0.3, 0.5, 0.8, 1.0, NAN]
    span = [2.0, 4.0, 1.0, NAN, 9.0, 9.0, NAN, NAN, 19.0, NAN, 1.0, 2.0, 8.0, 9.0, NAN]
    runs = GRID.assign(item_capacity_fraction=capacity, item_span=span,
                       item_view=["intervention"] * 14 + [None])
    grid = depth_direction_grid(runs)
    assert (grid.column, grid.headline.span, grid.headline.fraction) == (
        "item_capacity_fraction", "item_span", True)
    adding = grid.grids["adding"]
    np.testing.assert_allclose(adding.headline, [[0.2, NAN], [0.9, 0.9]])
    assert adding.headline_text == [["0.20\nspan 1*", "missing"],
                                    ["0.90\nspan 19*", "0.90 ± 0.14\nspan 8.5"]]
    assert adding.lags == [(0, 19), (0, 9)] and adding.view == "intervention"
    assert adding.reach is None  # a fraction: the colour scale is [0, 1]


@pytest.mark.parametrize("task,length,bidirectional,lags", [
    ("adding", 30, False, (0, 29)), ("adding", 30, True, (0, 14)), ("adding", 31, True, (0, 15)),
    ("copy", 30, False, (40, 40)), ("copy", 30, True, (40, 40)),
    ("selective_copy", 32, False, (4, 32)), ("mqar", 32, False, (1, 29))])
def test_lag_range_is_the_items_lags_to_the_nearest_readout(task, length, bidirectional, lags):
    assert lag_range(make_task(task, length), bidirectional) == lags


def test_capacity_curve_bands_finished_seeds_and_marks_solved_and_unfinished_lengths():
    rows = frame([
        ("adding", "gru", 1, False, 10, 0, "finished", True, NAN),
        ("adding", "gru", 1, False, 10, 1, "finished", True, NAN),
        ("adding", "gru", 1, False, 20, 0, "finished", False, NAN),
        ("adding", "gru", 1, False, 20, 1, "diverged", False, NAN),
        ("adding", "gru", 1, False, 30, 0, "missing", False, NAN),
    ]).assign(test_mse=[0.001, 0.003, 0.5, NAN, NAN])
    curve = capacity_curve(rows, "test_mse")
    np.testing.assert_allclose(curve.band.x, [10, 20])
    np.testing.assert_allclose(curve.band.centre, [0.002, 0.5])
    np.testing.assert_allclose(curve.band.low, [0.001, 0.5])
    np.testing.assert_allclose(curve.band.high, [0.003, 0.5])
    assert list(curve.band.count) == [2, 1]
    assert list(curve.solved) == [True, False] and curve.unfinished == [30]


def test_log_band_is_the_geometric_mean_and_std_of_log10_leaving_vanished_values_out():
    data = pd.DataFrame({"d": [0, 0, 1, 1, 2], "g": [1e-2, 1e-4, 1.0, 0.0, 0.0]})
    band = log_band(data, "d", "g")
    np.testing.assert_allclose(band.x, [0, 1, 2])
    np.testing.assert_allclose(band.centre[:2], [1e-3, 1.0])
    np.testing.assert_allclose(band.low[:2], [1e-4, 1.0])
    np.testing.assert_allclose(band.high[:2], [1e-2, 1.0])
    assert np.isnan(band.centre[2]), "a point where every seed's g is 0 is a gap"
    assert list(band.count) == [2, 1, 0] and band.has_spread


def test_range_band_counts_finite_values_only():
    band = range_band(pd.DataFrame({"t": [0, 0, 1], "v": [0.2, NAN, 0.4]}), "t", "v")
    assert list(band.count) == [1, 1] and not band.has_spread


@pytest.mark.parametrize("count,banded", [([1, 1], False), ([1, 2], True), ([], False)])
def test_a_seed_band_is_drawn_only_where_more_than_one_seed_is_behind_a_point(count, banded):
    x = np.arange(len(count), dtype=float)
    band = SeedBand(x, x + 1.0, x + 0.5, x + 1.5, np.array(count, dtype=int))
    fig, ax = new_figure()
    assert seed_band(ax, band, "#123456", lw=1.4, label="line") is banded
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), x + 1.0)
    assert (line.get_label(), line.get_color(), line.get_linewidth()) == ("line", "#123456", 1.4)
    assert len(ax.collections) == int(banded)
    if banded:
        (fill,) = ax.collections
        vertices = fill.get_paths()[0].vertices
        assert vertices[:, 1].min() == 0.5 and vertices[:, 1].max() == 2.5  # low .. high
    close(fig)
