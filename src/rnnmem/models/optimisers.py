"""The optimisers a run can train with, registered by name (`optim.name`): one entry each.

    params <- params - update(grad)   with torch's Adam (Kingma & Ba 2015) or RMSprop (Tieleman &
                                      Hinton 2012), at `optim.lr`, after clipping the gradient
                                      norm at `optim.grad_clip`

Config validation lists these names; `rnnmem.training.module` builds the chosen one, at the
learning rate `learning_rate` gives the cell, with one parameter group per role, each at its own
lr and weight decay (`rnnmem.models.param_groups`).
"""

from __future__ import annotations

from typing import Any

import torch

OPTIMISERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,
}


def learning_rate(optim: Any, cell: str) -> float:
    """The lr a `cell` trains at: `optim.lr_by_cell[cell]` where given, else `optim.lr`."""
    return float((optim.lr_by_cell or {}).get(cell, optim.lr))
