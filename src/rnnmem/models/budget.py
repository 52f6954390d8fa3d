"""Matched parameter budgets: the hidden size that gives a network N parameters.

At equal hidden size an LSTM has about 4x the parameters of a vanilla RNN and a GRU 3x; fair
comparisons hold the count fixed instead (Bai et al. 2018: about 70K on the adding problem,
16K on the copy task). The count is every trained tensor, input and output layers included:

    n(H) = sum over layers k and directions of  G H (I_k + H) + 2 G H        (recurrent stack)
         + W O + O                                                           (linear head)

with G the cell's gate blocks (`Cell.blocks`: rnn, irnn, orth 1, gru 3, lstm 4), I_0 the task's
input size, I_k = D H above (D directions), O the task's outputs and W the head's width (D H
for two concatenated directions, else H). The two bias vectors are b_ih and b_hh (the orth
cell's second one is its modReLU bias); its recurrent matrix counts the H x H parameter A the
orthogonal parametrization trains. `hidden_for_budget` picks the H whose n(H) is nearest N
and refuses a budget that no integer H meets within `TOLERANCE`: n grows by about 2/H per unit
of H, so small budgets in deep, bidirectional stacks can fall between two sizes.
"""

from __future__ import annotations

from typing import Any

from rnnmem.models import CELLS

TOLERANCE = 0.02  # relative distance |n(H) - N| / N allowed


def n_params(cell: str, input_size: int, hidden_size: int, depth: int, bidirectional: bool,
             merge: str, num_outputs: int) -> int:
    """n(H) above: the number of trained scalars of `RecurrentNet` with these arguments."""
    blocks, directions, h = CELLS[cell].blocks, 2 if bidirectional else 1, hidden_size
    total = 0
    for layer in range(depth):
        width = input_size if layer == 0 else directions * h
        total += directions * (blocks * h * (width + h) + 2 * blocks * h)
    head = directions * h if bidirectional and merge == "concat" else h
    return total + head * num_outputs + num_outputs


def hidden_for_budget(budget: int, cell: str, input_size: int, depth: int, bidirectional: bool,
                      merge: str, num_outputs: int) -> int:
    """The H with n(H) nearest `budget` (the smaller H on a tie); ValueError naming the two
    nearest counts when neither is within TOLERANCE of it."""
    def count(h: int) -> int:
        return n_params(cell, input_size, h, depth, bidirectional, merge, num_outputs)

    h = 1
    while count(h + 1) <= budget:
        h += 1
    best = min((h, h + 1), key=lambda size: (abs(count(size) - budget), size))
    if abs(count(best) - budget) > TOLERANCE * budget:
        raise ValueError(
            f"model.param_budget={budget}: no hidden size gives {cell} (depth {depth}, "
            f"{'bi' if bidirectional else 'uni'}) {budget} parameters within "
            f"{TOLERANCE:.0%} (H={h}: {count(h)}, H={h + 1}: {count(h + 1)})")
    return best


def sizing(model: Any, task: Any) -> dict[str, int]:
    """The hidden size a run trains with (`model.param_budget`'s pick for this cell and `task`,
    else `model.hidden_size_by_cell[cell]`, else `model.hidden_size`) and its parameter count
    `n_params`."""
    shape = (task.input_size, model.depth, model.bidirectional, model.merge, task.num_outputs)
    hidden = (model.hidden_size_by_cell or {}).get(model.cell, model.hidden_size)
    if model.param_budget is not None:
        hidden = hidden_for_budget(model.param_budget, model.cell, *shape)
    count = n_params(model.cell, shape[0], hidden, *shape[1:])
    return {"hidden_size": hidden, "n_params": count}
