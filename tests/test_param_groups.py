"""Learning rate and weight decay per parameter role: every tensor of every registered cell in
exactly one role, each role's group at its own lr (read back from the optimiser and seen in
the update), orth's recurrent default, the config's checks, the record and the run hash."""

from __future__ import annotations

import copy

import pytest
import torch

from conftest import compose_config
from rnnmem.config import ConfigError, typed, validate
from rnnmem.models import CELLS, ROLES, RecurrentNet
from rnnmem.models.param_groups import param_groups, role_settings
from rnnmem.models.scan import ScanCell
from rnnmem.rundir.identity import run_hash
from rnnmem.tasks import make_task
from rnnmem.train import train_one
from rnnmem.training.build import build_module, build_net
from rnnmem.training.lifecycle import weights_digest
from rnnmem.training.module import MemoryTaskModule

TINY = ("logger=none", "trainer.progress_bar=false", "data.val_size=32", "data.test_size=32",
        "task=copy", "task.seq_len=4", "model.hidden_size=8", "trainer.max_steps=10",
        "trainer.val_every_n_steps=10", "trainer.log_every_n_steps=5", "probe.enabled=false")


# the roles of the linear diagonal cells' parameters within a layer, written out (their
# classes' docstrings say why); minGRU and minLSTM have no recurrent matrix
SCAN_ROLES = {
    "mingru": {"recurrent": set(), "input": {"linear.weight"}, "bias": {"linear.bias"}},
    "minlstm": {"recurrent": set(), "input": {"linear.weight"}, "bias": {"linear.bias"}},
    "lru": {"recurrent": {"nu_log", "theta_log", "gamma_log"},
            "input": {"B", "C", "D", "encoder.weight", "norm.weight", "glu.weight"},
            "bias": {"encoder.bias", "norm.bias", "glu.bias"}},
    "s6": {"recurrent": {"A_log", "dt_proj.weight", "dt_proj.bias"},
           "input": {"in_proj.weight", "conv_weight", "x_proj.weight", "D", "out_proj.weight"},
           "bias": {"conv_bias"}},
}


def expected_role(cell: str, name: str) -> str:
    """The roles written out from the parameter names PyTorch, UnfusedLayers and ScanLayers
    give."""
    if name.startswith("head."):
        return "readout"
    if cell in SCAN_ROLES:
        inside = name.removeprefix("rnn.").partition(".")[2]
        return next(role for role, names in SCAN_ROLES[cell].items() if inside in names)
    if name.startswith(("rnn.weight_hh", "rnn.parametrizations.weight_hh")):
        return "recurrent"
    return "input" if name.startswith("rnn.weight_ih") else "bias"


def test_every_registered_cell_has_its_roles_written_out_here():
    scan_cells = {name for name, cell in CELLS.items() if issubclass(cell, ScanCell)}
    assert scan_cells == set(SCAN_ROLES), "a new scan cell: list its roles in SCAN_ROLES"


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_every_parameter_of_every_registered_cell_falls_in_exactly_one_group(cell):
    net = RecurrentNet(cell, 3, 5, depth=2, num_outputs=2, bidirectional=True)
    roles = net.parameter_roles()
    assert list(roles) == [name for name, _ in net.named_parameters()]
    assert roles == {name: expected_role(cell, name) for name in roles}
    present = [role for role in ROLES if role in roles.values()]
    assert set(ROLES) - set(present) <= {"recurrent"}, "only the recurrence may be absent"
    assert ("recurrent" in present) == (cell not in ("mingru", "minlstm"))
    groups = param_groups(net, role_settings(cell, 1e-3))
    grouped = [id(p) for group in groups for p in group["params"]]
    assert sorted(grouped) == sorted(id(p) for p in net.parameters()), "each once, none left"
    assert [group["role"] for group in groups] == present


def test_a_parameter_no_rule_covers_is_named():
    with pytest.raises(ValueError, match=r"cell 'rnn': no parameter role for 'log_lambda'"):
        CELLS["rnn"].parameter_role("log_lambda")
    with pytest.raises(ValueError, match=r"cell 'lru': no parameter role for 'l0.extra'"):
        CELLS["lru"].parameter_role("l0.extra")


def optimiser_lrs(*overrides: str) -> dict[str, tuple[float, float]]:
    """{role: (lr, weight_decay)} read back from the optimiser the run's module builds."""
    cfg = compose_config(*TINY, *overrides)
    run = typed(cfg)
    task = make_task(run.task.name, run.task.seq_len)
    module = build_module(run, task=task, net=build_net(run.model, task), steps_per_batch=1)
    optimiser = module.configure_optimizers()
    return {g["role"]: (g["lr"], g["weight_decay"]) for g in optimiser.param_groups}


def test_each_group_has_its_own_lr_and_weight_decay_in_the_optimiser():
    full = dict.fromkeys(ROLES, (1e-3, 0.0))
    assert optimiser_lrs("model.cell=lstm") == full
    # orth's orthogonal parameter at a tenth of the lr by default (expRNN's setting)
    assert optimiser_lrs("model.cell=orth") == {**full, "recurrent": (1e-3 * 0.1, 0.0)}
    assert optimiser_lrs("model.cell=orth", "optim.lr_scale={recurrent: 1.0}") == full
    # a role not named keeps the cell's default; lr_by_cell sets the lr the scales multiply
    assert optimiser_lrs("model.cell=orth", "optim=rmsprop", "optim.lr_scale={readout: 2}",
                         "optim.lr_by_cell={orth: 5e-3}") == {
        "recurrent": (5e-3 * 0.1, 0.0), "input": (5e-3, 0.0), "bias": (5e-3, 0.0),
        "readout": (5e-3 * 2, 0.0)}
    assert optimiser_lrs("model.cell=gru", "optim.weight_decay=1e-4",
                         "optim.weight_decay_scale={bias: 0}") == {
        **dict.fromkeys(ROLES, (1e-3, 1e-4)), "bias": (1e-3, 0.0)}


@pytest.mark.parametrize("cell", ["orth", "lstm"])
def test_each_group_trains_at_its_own_lr(cell):
    """Adam's first update is lr * g / (|g| + eps) elementwise: lr per element wherever
    |g| >> eps. So each role's largest step, divided by its lr, is 1."""
    task = make_task("copy", 4)
    torch.manual_seed(0)
    net = RecurrentNet(cell, task.input_size, 8, num_outputs=task.num_outputs,
                       per_step_output=True)
    scales = {"recurrent": 0.1, "input": 1.0, "bias": 0.5, "readout": 3.0}
    settings = role_settings(cell, 1e-3, lr_scale=scales)
    optimiser = torch.optim.Adam(param_groups(net, settings), lr=1e-3)
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    x, y = task.sample(16, torch.Generator().manual_seed(1))
    task.loss(net(x), y).backward()
    optimiser.step()
    steps: dict[str, float] = {}
    for name, p in net.named_parameters():
        role = net.parameter_roles()[name]
        steps[role] = max(steps.get(role, 0.0), float((p.detach() - before[name]).abs().max()))
    for role, scale in scales.items():
        assert steps[role] / (1e-3 * scale) == pytest.approx(1.0, rel=1e-3), role


def test_scales_of_one_train_the_bits_of_a_single_group():
    """The groups change nothing where every scale is 1: the same weights as one optimiser
    over `parameters()`, as the harness trained before it had groups."""
    task = make_task("adding", 6)
    torch.manual_seed(0)
    net = RecurrentNet("lstm", task.input_size, 8, num_outputs=task.num_outputs)
    grouped = MemoryTaskModule(task, net, batch_size=8, seed=0, optimiser="rmsprop", lr=3e-3)
    single = MemoryTaskModule(task, copy.deepcopy(net), batch_size=8, seed=0)
    optimisers = (grouped.configure_optimizers(),
                  torch.optim.RMSprop(single.net.parameters(), lr=3e-3))
    assert len(optimisers[0].param_groups) == len(ROLES)
    generator = torch.Generator().manual_seed(2)
    for _ in range(20):
        x, y = task.sample(8, generator)
        for module, optimiser in zip((grouped, single), optimisers, strict=True):
            optimiser.zero_grad()
            task.loss(module.net(x), y).backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optimiser.step()
    assert weights_digest(grouped.net) == weights_digest(single.net)


@pytest.mark.parametrize(("override", "message"), [
    ("optim.lr_scale={recurent: 0.1}",
     "optim.lr_scale.recurent: 'recurent' is not one of: recurrent, input, bias, readout"),
    ("optim.lr_scale={recurrent: 0}", "optim.lr_scale.recurrent=0 must be a finite number > 0"),
    ("optim.lr_scale={bias: -1}", "optim.lr_scale.bias=-1 must be a finite number > 0"),
    ("optim.lr_scale={bias: nan}", "optim.lr_scale.bias=nan must be a finite number > 0"),
    ("optim.lr_scale={bias: abc}", "optim.lr_scale.bias='abc' must be a finite number > 0"),
    ("optim.lr_scale=0.1", "optim.lr_scale=0.1 must be a mapping {role: factor} of roles: "
                           "recurrent, input, bias, readout"),
    ("optim.weight_decay_scale={bias: -0.5}",
     "optim.weight_decay_scale.bias=-0.5 must be a finite number >= 0"),
    ("optim.weight_decay=-1", "optim.weight_decay=-1.0 must be >= 0.0"),
])
def test_bad_role_settings_are_refused_in_one_line(override, message):
    with pytest.raises(ConfigError) as err:
        validate(compose_config(override))
    assert str(err.value) == message


def test_zero_weight_decay_scale_is_allowed_and_every_setting_is_in_the_hash():
    validate(compose_config("optim.weight_decay=1e-4", "optim.weight_decay_scale={bias: 0}"))
    base = run_hash(compose_config())
    for change in ("optim.lr_scale={recurrent: 0.1}", "optim.weight_decay=1e-4",
                   "optim.weight_decay_scale={bias: 0}"):
        assert run_hash(compose_config(change)) != base, change


def test_record_states_each_roles_lr(tmp_path):
    record = train_one(compose_config(*TINY, "model.cell=orth", "optim.lr=2e-3"), tmp_path)
    assert record["status"] == "finished" and record["lr"] == 2e-3
    assert record["param_groups"] == {
        "recurrent": {"lr": 2e-3 * 0.1, "weight_decay": 0.0},
        **{role: {"lr": 2e-3, "weight_decay": 0.0} for role in ("input", "bias", "readout")}}
