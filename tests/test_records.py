"""The record loaders the README shows: each imports from where the README says and gives the
columns (or keys) its comment there lists, with the values of a hand-made recorded run."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from rnnmem.tasks import make_task
from test_figures import STEPS, grad, item_curve, item_headlines, sensitivity, write_run

LIST = re.compile(r"#\s*(?:long DataFrame|flat dict):\s*(.*)$")


def readme_loaders() -> tuple[str, dict[str, str]]:
    """The README's code block of loaders: its import statement, and per loader the comment
    that says what it returns."""
    text = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"```python\n(from rnnmem\.reporting\.records import .*?)```", text,
                          flags=re.S)
    statement = block[:block.index(")") + 1]
    comments = {}
    for line in block[len(statement):].strip().splitlines():
        name, _, comment = line.partition("#")
        comments[name.split("(")[0].strip()] = "#" + comment
    return statement, comments


def documented_columns(comment: str) -> list[str]:
    """'# long DataFrame: step, view (gradient|intervention), lag' -> ['step', 'view', 'lag']
    (an ellipsis left out)."""
    (listed,) = LIST.search(comment).groups()
    names = [re.sub(r"\s*\(.*\)", "", part).strip() for part in listed.split(",")]
    return [name for name in names if name != "..."]


@pytest.fixture(scope="module")
def loaders() -> dict[str, object]:
    statement, _ = readme_loaders()
    namespace: dict[str, object] = {}
    exec(statement, namespace)  # the README's own import line
    return {name: value for name, value in namespace.items() if name.startswith("load_")}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sweep = tmp_path_factory.mktemp("sweep")
    write_run(sweep, "adding", "lstm", 8, 1)
    write_run(sweep, "copy", "gru", 4, 0)
    return sweep


def test_the_readme_shows_every_public_loader(loaders):
    _, comments = readme_loaders()
    assert sorted(loaders) == sorted(comments) == [
        "load_grad_norms", "load_input_sensitivity", "load_item_memory", "load_run",
        "load_sweep"]


def test_load_run_gives_the_keys_the_readme_lists(loaders, sweep):
    _, comments = readme_loaders()
    row = loaders["load_run"](sweep / "adding" / "lstm-d1-uni-T8-s1")
    keys = documented_columns(comments["load_run"])
    assert {"status", "cell", "hidden_size", "n_params", "lr", "test_mse", "memory_span"} <= set(
        keys)
    assert set(keys) <= set(row)
    assert (row["status"], row["cell"], row["hidden_size"]) == ("finished", "lstm", 8)
    assert row["memory_span"] == 7 - 2 - 1  # test_figures.span: anchor - 2 seed - cell index


@pytest.mark.parametrize("name", ["load_grad_norms", "load_input_sensitivity",
                                  "load_item_memory"])
def test_probe_loaders_give_the_columns_the_readme_lists(loaders, sweep, name):
    _, comments = readme_loaders()
    frame = loaders[name](sweep / "adding" / "lstm-d1-uni-T8-s1")
    assert list(frame.columns) == documented_columns(comments[name])
    assert len(frame) > 0


def test_probe_loaders_give_the_recorded_values(loaders, sweep):
    run_dir = sweep / "adding" / "lstm-d1-uni-T8-s1"
    norms = loaders["load_grad_norms"](run_dir)
    assert set(norms["state"]) == {"h"} and set(norms["direction"]) == {"fwd"}
    last = norms[norms["step"] == STEPS[-1]].sort_values("t")
    np.testing.assert_allclose(last["norm"], grad("adding", 8, 1)[-1])
    inputs = loaders["load_input_sensitivity"](run_dir)
    first = inputs[inputs["step"] == 0].sort_values("t")
    np.testing.assert_allclose(first["norm"], sensitivity("adding", 8, 1)[0])
    items = loaders["load_item_memory"](run_dir)
    assert sorted(set(zip(items["view"], items["step"], strict=True))) == [
        ("gradient", 0), ("gradient", 50), ("gradient", 100), ("intervention", 0),
        ("intervention", 100), ("storage", 0), ("storage", 100)]
    for view in ("gradient", "intervention", "storage"):
        mine = items[(items["view"] == view) & (items["step"] == 100)]
        curve = item_curve("adding", "lstm", 8, 1, view)
        np.testing.assert_array_equal(mine["lag"], np.arange(make_task("adding", 8).length))
        for row, name in enumerate(("memory", "stderr", "count", "low", "high")):
            np.testing.assert_allclose(mine[name], curve[row])
        assert mine["measured"].all()


def test_load_run_gives_each_views_headlines_and_the_headline_view(loaders, sweep):
    row = loaders["load_run"](sweep / "copy" / "gru-d1-uni-T4-s0")
    assert row["item_view"] == "choice"
    for view in ("probability", "choice", "storage"):
        heads = item_headlines("copy", "gru", 4, 0, view)
        for field in ("span", "capacity", "capacity_low", "capacity_high", "capacity_fraction"):
            assert row[f"{view}_{field}"] == pytest.approx(heads[field]), (view, field)
    for field in ("span", "span_is_bound", "capacity", "capacity_fraction", "span_init"):
        assert row[f"item_{field}"] == row[f"choice_{field}"]  # the headline view's
    assert row["choice_span_init"] == 0.0 and np.isnan(row["intervention_span"])


def test_load_sweep_gives_one_row_per_run_with_load_runs_keys(loaders, sweep):
    runs = loaders["load_sweep"](sweep)
    assert len(runs) == 2
    assert list(runs["task"]) == ["adding", "copy"]
    row = loaders["load_run"](sweep / "copy" / "gru-d1-uni-T4-s0")
    assert list(runs.columns) == list(row)
