"""model.param_budget: the count formula equals torch's count of the built net, every feasible
(cell, depth, direction, task) lands within 2% of the budget, an infeasible one is refused in
one line before training, and a run records the count it trained with."""

import itertools

import pytest

from conftest import compose_config
from rnnmem.config import ConfigError, validate
from rnnmem.models import CELLS, RecurrentNet
from rnnmem.models.budget import TOLERANCE, hidden_for_budget, n_params, sizing
from rnnmem.reporting.records import load_run
from rnnmem.tasks import TASKS, make_task
from rnnmem.train import train_one

SHAPES = [(cell, depth, bi, merge, task)
          for cell, depth, bi, merge, task in itertools.product(
              CELLS, (1, 2, 3), (False, True), ("concat", "sum"), TASKS)
          if bi or merge == "concat"]  # merge only matters for two directions


@pytest.mark.parametrize("cell, depth, bidirectional, merge, task", SHAPES)
def test_count_formula_equals_the_built_nets_parameters(cell, depth, bidirectional, merge, task):
    kind = make_task(task, 16)  # the recall tasks size their alphabet per instance
    net = RecurrentNet(cell, kind.input_size, 7, depth=depth, num_outputs=kind.num_outputs,
                       per_step_output=kind.per_step_output,
                       bidirectional=bidirectional, merge=merge)
    counted = sum(p.numel() for p in net.parameters())
    assert n_params(cell, kind.input_size, 7, depth, bidirectional, merge,
                    kind.num_outputs) == counted


# Bai et al. 2018's budgets (16K copy, 70K adding) and the default sweep's
BUDGETS = (16_000, 30_000, 70_000)
GRID = list(itertools.product(BUDGETS, CELLS, (1, 2, 3), (False, True), TASKS))


def test_every_cell_depth_and_direction_meets_the_budget_within_2_percent_or_is_refused():
    """Over the grid: the chosen H is within 2% wherever an integer H can be, and the refusals
    are exactly the configurations where neither neighbour of the budget is (n grows ~2/H per
    unit of H, so deep bidirectional stacks at 16K can fall between two sizes)."""
    refused = []
    for budget, cell, depth, bidirectional, task in GRID:
        kind = make_task(task, 16)
        shape = (kind.input_size, depth, bidirectional, "concat", kind.num_outputs)
        counts = {h: n_params(cell, shape[0], h, *shape[1:]) for h in range(1, 400)}
        feasible = [h for h, n in counts.items() if abs(n - budget) <= TOLERANCE * budget]
        if feasible:
            h = hidden_for_budget(budget, cell, *shape)
            assert abs(counts[h] - budget) == min(abs(counts[k] - budget) for k in counts)
            assert abs(counts[h] - budget) <= TOLERANCE * budget
        else:
            with pytest.raises(ValueError, match=f"model.param_budget={budget}: no hidden size"):
                hidden_for_budget(budget, cell, *shape)
            refused.append((budget, cell, depth, bidirectional, task))
    at_70k = [r for r in refused if r[0] == 70_000]
    # three of 120 at 70K, all three layers deep and bidirectional: the GRU on copy and
    # selective copy (10 inputs each), the LSTM on MQAR
    assert len(at_70k) <= 3 and all(r[2] == 3 and r[3] for r in at_70k)
    assert not [r for r in refused if r[2] == 1]  # every one-layer net, at every budget


def test_matched_budget_evens_out_cells():
    """At 16K on copy, the vanilla RNN gets about 2x the LSTM's hidden units (G = 1 vs 4)."""
    kind = TASKS["copy"]
    sizes = {cell: hidden_for_budget(16_000, cell, kind.input_size, 1, False, "concat",
                                     kind.num_outputs) for cell in CELLS}
    assert sizes["rnn"] == sizes["irnn"] == sizes["orth"]
    assert 1.8 < sizes["rnn"] / sizes["lstm"] < 2.2
    assert sizes["lstm"] < sizes["gru"] < sizes["rnn"]


def test_run_records_n_params_hidden_size_and_lr(tmp_path):
    record = train_one(compose_config(
        "logger=none", "trainer.progress_bar=false", "data.val_size=32", "data.test_size=32",
        "task=copy", "task.seq_len=4", "model=gru", "model.param_budget=3000",
        "optim.lr_by_cell={gru: 0.005, orth: 0.001}", "trainer.max_steps=10",
        "trainer.val_every_n_steps=10", "trainer.log_every_n_steps=5", "probe.every_n_steps=10"),
        tmp_path)
    assert record["status"] == "finished"
    hidden = hidden_for_budget(3000, "gru", 10, 1, False, "concat", 10)
    assert record["hidden_size"] == hidden and record["config"]["model"]["hidden_size"] == 128
    assert abs(record["n_params"] - 3000) <= 60
    row = load_run(tmp_path)
    assert (row["n_params"], row["hidden_size"], row["lr"]) == (record["n_params"], hidden, 0.005)


@pytest.mark.parametrize("override, expected", [
    ("model.param_budget=100", "model.param_budget=100: no hidden size gives lstm (depth 3, bi) "
                               "100 parameters within 2% (H=1: 214, H=2: 530) for task=copy"),
    ("optim.lr_by_cell={elman: 0.1}", "optim.lr_by_cell.elman: 'elman' is not one of: rnn, "
                                       "lstm, gru, irnn, orth"),
    ("optim.lr_by_cell={gru: -1}", "optim.lr_by_cell.gru=-1 must be > 0"),
    ("model.hidden_size_by_cell={orth: 0}", "model.hidden_size_by_cell.orth=0 must be > 0"),
])
def test_bad_budget_or_lr_mapping_is_refused_in_one_line(override, expected):
    cfg = compose_config("task=copy", "model=lstm", "model.depth=3", "model.bidirectional=true",
                         override)
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert str(err.value) == expected


@pytest.mark.parametrize("cell, hidden", [("orth", 64), ("gru", 32)])
def test_hidden_size_by_cell_gives_a_named_cell_its_own_size(cell, hidden):
    cfg = compose_config(f"model={cell}", "model.hidden_size=32",
                         "model.hidden_size_by_cell={orth: 64}")
    task = TASKS["copy"](5)
    size = sizing(cfg.model, task)
    assert size == {"hidden_size": hidden, "n_params": n_params(cell, 10, hidden, 1, False,
                                                                  "concat", 10)}
