"""Matched budgets: the hidden size that gives a network N parameters, or N recurrent state
elements per layer.

Parameters. At equal hidden size an LSTM has about 4x the parameters of a vanilla RNN and a GRU
3x; fair comparisons hold the count fixed instead (Bai et al. 2018: about 70K on the adding
problem, 16K on the copy task). The count is every trained tensor, input and output layers
included:

    n(H) = sum over layers k and directions of  p(I_k, H, N)                 (recurrent stack)
         + W O + O                                                           (linear head)

with p the cell's count of one layer and direction (`Cell.layer_params`; for the matrix cells
G H (I_k + H) + 2 G H, G the gate blocks: rnn, irnn, orth 1, gru 3, lstm 4; minGRU 2H(I_k + 1),
minLSTM 3H(I_k + 1); the LRU and S6 layers count their projections too), I_0 the task's input
size, I_k = D H above (D directions), O the task's outputs and W the head's width (D H for two
concatenated directions, else H). The matrix cells' two bias vectors are b_ih and b_hh (the
orth cell's second one is its modReLU bias); its recurrent matrix counts the H x H parameter A
the orthogonal parametrization trains. N is the state size of the cells that have one (LRU,
S6: `model.state_size`, or the cell's default). `hidden_for_budget` picks the H whose n(H) is
nearest N and refuses a budget that no integer H meets within `TOLERANCE`: n grows by about 2/H
per unit of H, so small budgets in deep, bidirectional stacks can fall between two sizes.

State. Zoology (Arora et al. 2023) compares recurrences at equal recurrent state size: the
number of state elements one layer carries from step to step, s(H) = D e(H, N) with e the
cell's count per direction (`Cell.state_elements`): H for rnn, irnn, orth, gru, minGRU and
minLSTM, 2H for the LSTM (h and c), 2N for the LRU (N complex states; N = H unless
`model.state_size` fixes it), H N for S6. `hidden_for_state_budget` picks the H whose s(H) is
nearest the budget, with the same tolerance, and refuses one that no H meets, or a cell whose
state does not grow with H (the LRU with `model.state_size` set).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rnnmem.models import CELLS

TOLERANCE = 0.02  # relative distance |n(H) - N| / N allowed


def n_params(cell: str, input_size: int, hidden_size: int, depth: int, bidirectional: bool,
             merge: str, num_outputs: int, state_size: int | None = None) -> int:
    """n(H) above: the number of trained scalars of `RecurrentNet` with these arguments
    (`state_size` as `model.state_size`: None for the cell's default)."""
    spec, directions, h = CELLS[cell], 2 if bidirectional else 1, hidden_size
    total = 0
    for layer in range(depth):
        width = input_size if layer == 0 else directions * h
        total += directions * spec.layer_params(width, h, state_size)
    head = directions * h if bidirectional and merge == "concat" else h
    return total + head * num_outputs + num_outputs


def state_elements(cell: str, hidden_size: int, bidirectional: bool,
                   state_size: int | None = None) -> int:
    """s(H) above: recurrent state elements of one layer, both directions."""
    return (2 if bidirectional else 1) * CELLS[cell].state_elements(hidden_size, state_size)


def nearest_size(budget: int, count: Callable[[int], int]) -> tuple[int, int]:
    """(h, h + 1) around the budget of a count that grows with h: count(h + 1) > budget or
    h = 1."""
    h = 1
    while count(h + 1) <= budget:
        h += 1
    return h, h + 1


def hidden_for_budget(budget: int, cell: str, input_size: int, depth: int, bidirectional: bool,
                      merge: str, num_outputs: int, state_size: int | None = None) -> int:
    """The H with n(H) nearest `budget` (the smaller H on a tie); ValueError naming the two
    nearest counts when neither is within TOLERANCE of it."""
    def count(h: int) -> int:
        return n_params(cell, input_size, h, depth, bidirectional, merge, num_outputs,
                        state_size)

    direction = "bi" if bidirectional else "uni"
    return within_tolerance(budget, count, "model.param_budget",
                            f"{cell} (depth {depth}, {direction}) {budget} parameters")


def hidden_for_state_budget(budget: int, cell: str, bidirectional: bool,
                            state_size: int | None = None) -> int:
    """The H with s(H) nearest `budget` (the smaller H on a tie); ValueError in one line when
    neither neighbour is within TOLERANCE of it, or when s does not depend on H."""
    def count(h: int) -> int:
        return state_elements(cell, h, bidirectional, state_size)

    direction = "bi" if bidirectional else "uni"
    if count(1) == count(2):
        raise ValueError(
            f"model.state_budget={budget}: the state of {cell} ({direction}) is "
            f"{count(1)} elements per layer whatever the hidden size, fixed by "
            f"model.state_size={state_size}; leave model.state_size null")
    return within_tolerance(budget, count, "model.state_budget",
                            f"{cell} ({direction}) {budget} state elements per layer")


def within_tolerance(budget: int, count: Callable[[int], int], key: str, what: str) -> int:
    """Of the two sizes around `budget` (`nearest_size`), the H whose count is nearest it (the
    smaller H on a tie); ValueError in one line, '<key>=<budget>: no hidden size gives <what>
    within 2% (...)' with the two neighbours' counts, when neither is within TOLERANCE."""
    h, above = nearest_size(budget, count)
    best = min((h, above), key=lambda size: (abs(count(size) - budget), size))
    if abs(count(best) - budget) > TOLERANCE * budget:
        raise ValueError(f"{key}={budget}: no hidden size gives {what} within {TOLERANCE:.0%} "
                         f"(H={h}: {count(h)}, H={above}: {count(above)})")
    return best


def sizing(model: Any, task: Any) -> dict[str, int | None]:
    """The hidden size a run trains with (`model.param_budget`'s or `model.state_budget`'s
    pick for this cell and `task`, else `model.hidden_size_by_cell[cell]`, else
    `model.hidden_size`), its parameter count `n_params`, the state size N its cell uses
    (`state_size`, None for cells without one) and the recurrent state elements per layer
    (`state_elements`, both directions)."""
    shape = (task.input_size, model.depth, model.bidirectional, model.merge, task.num_outputs)
    state_size = model.state_size
    hidden = (model.hidden_size_by_cell or {}).get(model.cell, model.hidden_size)
    if model.param_budget is not None:
        hidden = hidden_for_budget(model.param_budget, model.cell, *shape, state_size)
    if model.state_budget is not None:
        hidden = hidden_for_state_budget(model.state_budget, model.cell, model.bidirectional,
                                         state_size)
    return {"hidden_size": hidden,
            "n_params": n_params(model.cell, shape[0], hidden, *shape[1:], state_size),
            "state_size": CELLS[model.cell].resolved_state_size(hidden, state_size),
            "state_elements": state_elements(model.cell, hidden, model.bidirectional,
                                             state_size)}
