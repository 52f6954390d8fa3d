"""model.param_budget: the count formula equals torch's count of the built net, every feasible
(cell, depth, direction, task) lands within 2% of the budget, an infeasible one is refused in
one line before training, and a run records the count it trained with."""

import itertools
from collections.abc import Callable

import pytest
import torch

from conftest import compose_config
from rnnmem.config import ConfigError, validate
from rnnmem.models import CELLS, RecurrentNet
from rnnmem.models.budget import (
    TOLERANCE,
    hidden_for_budget,
    hidden_for_state_budget,
    n_params,
    sizing,
    state_elements,
)
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


def counts_up_to(count: Callable[[int], int], budget: int) -> dict[int, int]:
    """count(h) for h = 1, 2, ... up to the first h whose count passes the budget's upper
    tolerance (counts grow with h)."""
    counts, h = {}, 1
    while not counts or counts[h - 1] <= (1 + TOLERANCE) * budget:
        counts[h] = count(h)
        h += 1
    return counts


def test_every_cell_depth_and_direction_meets_the_budget_within_2_percent_or_is_refused():
    """Over the grid: the chosen H is within 2% wherever an integer H can be, and the refusals
    are exactly the configurations where neither neighbour of the budget is (n grows ~2/H per
    unit of H, so deep bidirectional stacks at 16K can fall between two sizes)."""
    refused = []
    for budget, cell, depth, bidirectional, task in GRID:
        kind = make_task(task, 16)
        shape = (kind.input_size, depth, bidirectional, "concat", kind.num_outputs)
        counts = counts_up_to(lambda h, cell=cell, shape=shape: n_params(cell, shape[0], h,
                                                                          *shape[1:]), budget)
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
    # two of 216 at 70K, three layers deep and bidirectional: the GRU on the 10-input tasks
    assert at_70k == [(70_000, "gru", 3, True, "copy"), (70_000, "gru", 3, True,
                                                          "selective_copy")]
    # every one-layer net at every budget but two: the bidirectional LRU (N = H, so n grows by
    # ~12 H per unit of H) on the 2- and 8-input tasks, at 16K
    assert [r for r in refused if r[2] == 1] == [(16_000, "lru", 1, True, "adding"),
                                                  (16_000, "lru", 1, True, "mqar")]


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
                                       "lstm, gru, irnn, orth, mingru, minlstm, lru, s6"),
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
                                                                  "concat", 10),
                    "state_size": None, "state_elements": hidden}


STATE_SHAPES = [(cell, state_size, bi) for cell, state_size, bi in itertools.product(
    CELLS, (None, 3), (False, True)) if state_size is None or CELLS[cell].takes_state_size]


@pytest.mark.parametrize("cell, state_size, bidirectional", STATE_SHAPES)
def test_state_elements_count_the_states_the_unrolled_net_carries(cell, state_size,
                                                                  bidirectional):
    """s(H) of `rnnmem.models.budget` (per cell: `Cell.state_elements`) equals the elements of the
    states the unrolled net steps through, h (and c), per layer and sequence, at H = 7."""
    net = RecurrentNet(cell, 3, 7, depth=2, bidirectional=bidirectional, state_size=state_size)
    u = net.unrolled(torch.zeros(2, 4, 3))
    kinds = [u.h] if u.c is None else [u.h, u.c]
    for layer in range(2):
        carried = sum(kind[layer][d][0][0].numel() for kind in kinds
                      for d in range(net.num_directions))  # one sequence, one step
        assert carried == state_elements(cell, 7, bidirectional, state_size)


def test_state_budget_matches_zoologys_state_sizes():
    """256 state elements per layer: LSTM H = 128 (h and c), GRU, minGRU 256, LRU 128 (N = H
    complex states), S6 16 (16 states per channel); a bidirectional layer halves each H."""
    sizes = {cell: hidden_for_state_budget(256, cell, False) for cell in CELLS}
    assert sizes == {"rnn": 256, "lstm": 128, "gru": 256, "irnn": 256, "orth": 256,
                     "mingru": 256, "minlstm": 256, "lru": 128, "s6": 16}
    assert hidden_for_state_budget(256, "s6", True) == 8
    assert hidden_for_state_budget(256, "s6", False, state_size=4) == 64


STATE_BUDGETS = (64, 100, 256, 1000, 4096)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_state_budget_picks_the_nearest_size_within_2_percent_or_refuses(cell, bidirectional):
    for budget in STATE_BUDGETS:
        counts = counts_up_to(lambda h: state_elements(cell, h, bidirectional), budget)
        nearest = min(abs(n - budget) for n in counts.values())
        if nearest <= TOLERANCE * budget:
            h = hidden_for_state_budget(budget, cell, bidirectional)
            assert abs(counts[h] - budget) == nearest
        else:
            with pytest.raises(ValueError, match=f"model.state_budget={budget}: no hidden size"):
                hidden_for_state_budget(budget, cell, bidirectional)


@pytest.mark.parametrize("overrides, expected", [
    (("model=s6", "model.state_budget=100"),
     "model.state_budget=100: no hidden size gives s6 (uni) 100 state elements per layer "
     "within 2% (H=6: 96, H=7: 112)"),
    (("model=lru", "model.state_size=32", "model.state_budget=256"),
     "model.state_budget=256: the state of lru (uni) is 64 elements per layer whatever the "
     "hidden size, fixed by model.state_size=32; leave model.state_size null"),
    (("model=gru", "model.state_budget=256", "model.param_budget=16000"),
     "model.param_budget=16000 and model.state_budget=256: set one of them, not both"),
    (("model=gru", "model.state_size=16"),
     "model.state_size=16 applies to lru, s6 only, not model.cell=gru"),
    (("model=lru", "model.init=orthogonal"),
     "model.init='orthogonal' applies to rnn, lstm, gru, irnn, orth only, not model.cell=lru"),
    (("model=minlstm", "model.forget_bias=1.0"),
     "model.forget_bias=1.0 applies to lstm only, not model.cell=minlstm"),
])
def test_bad_state_budget_or_cell_option_is_refused_in_one_line(overrides, expected):
    with pytest.raises(ConfigError) as err:
        validate(compose_config("task=copy", *overrides))
    assert str(err.value) == expected


def test_run_records_state_size_and_state_elements(tmp_path):
    """An S6 run at state_budget 128 with N = 8: H = 16, recorded with N and the count."""
    record = train_one(compose_config(
        "logger=none", "trainer.progress_bar=false", "data.val_size=32", "data.test_size=32",
        "task=adding", "task.seq_len=5", "model=s6", "model.state_budget=128",
        "model.state_size=8", "trainer.max_steps=4", "trainer.val_every_n_steps=4",
        "trainer.log_every_n_steps=2", "probe.every_n_steps=4"), tmp_path)
    assert record["status"] == "finished"
    assert (record["hidden_size"], record["state_size"], record["state_elements"]) == (16, 8, 128)
    assert record["n_params"] == n_params("s6", 2, 16, 1, False, "concat", 1, state_size=8)
    row = load_run(tmp_path)
    assert (row["hidden_size"], row["state_size"], row["state_elements"]) == (16, 8, 128)
