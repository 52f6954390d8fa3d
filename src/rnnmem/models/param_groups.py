"""Learning rate and weight decay per parameter role: the optimiser's parameter groups.

Every trained tensor has a role (`rnnmem.models.ROLES`: recurrent, input, bias, readout), which
its cell states (`Cell.parameter_role`; the head is the readout). A role r trains at

    lr_r = lr * s_r,        s_r = optim.lr_scale[r], else the cell's default
                                  (`Cell.lr_scale`: orth's recurrent 0.1), else 1
    wd_r = weight_decay * d_r,   d_r = optim.weight_decay_scale[r], else 1

with lr the cell's lr (`optim.lr_by_cell[cell]`, else `optim.lr`;
`rnnmem.models.optimisers.learning_rate`). Each role with parameters is one group of the
optimiser (its `role` key names it), so every optimiser of the registry
(`rnnmem.models.optimisers`) reads the same settings. A scale of 1 gives the bits of a single
group: lr * 1.0 is lr exactly, and Adam's and RMSprop's updates are elementwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from rnnmem.models.cells import CELLS, ROLES  # CELLS: every cell, once rnnmem.models ran
from rnnmem.models.optimisers import learning_rate
from rnnmem.models.recurrent import RecurrentNet

RoleSettings = dict[str, dict[str, float]]  # {role: {"lr": ..., "weight_decay": ...}}


def role_settings(cell: str, lr: float, *, lr_scale: Mapping[str, float] | None = None,
                  weight_decay: float = 0.0,
                  weight_decay_scale: Mapping[str, float] | None = None) -> RoleSettings:
    """The lr and weight decay of every role of ROLES for `cell` trained at `lr` (the module
    docstring's equations); `lr_scale` overrides the cell's defaults role by role."""
    scale = {**CELLS[cell].lr_scale, **(lr_scale or {})}
    decay = dict(weight_decay_scale or {})
    return {role: {"lr": lr * float(scale.get(role, 1.0)),
                   "weight_decay": weight_decay * float(decay.get(role, 1.0))}
            for role in ROLES}


def settings_of(optim: Any, cell: str) -> RoleSettings:
    """`role_settings` from a run's `optim` section (`rnnmem.config.OptimConfig`)."""
    return role_settings(cell, learning_rate(optim, cell), lr_scale=optim.lr_scale,
                         weight_decay=optim.weight_decay,
                         weight_decay_scale=optim.weight_decay_scale)


def param_groups(net: RecurrentNet, settings: RoleSettings) -> list[dict[str, Any]]:
    """The optimiser's groups: one per role that has parameters, in ROLES order, each with its
    parameters (in `named_parameters` order), `role`, `lr` and `weight_decay`."""
    by_name: dict[str, nn.Parameter] = dict(net.named_parameters())
    roles = net.parameter_roles()
    groups = []
    for role in ROLES:
        params = [by_name[name] for name, of in roles.items() if of == role]
        if params:
            groups.append({"params": params, "role": role, **settings[role]})
    return groups
