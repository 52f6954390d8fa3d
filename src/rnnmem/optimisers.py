"""The optimisers a run can train with, registered by name (`optim.name`): one entry each.

    params <- params - update(grad)   with torch's Adam (Kingma & Ba 2015) or RMSprop (Tieleman &
                                      Hinton 2012), at `optim.lr`, after clipping the gradient
                                      norm at `optim.grad_clip`

Config validation lists these names; `rnnmem.module` builds the chosen one.
"""

from __future__ import annotations

import torch

OPTIMISERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,
}
