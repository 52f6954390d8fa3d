"""Structured config schemas of one training run, and their validation.

The dataclasses below are the schema Hydra composes `conf/train.yaml` against: types are
checked by OmegaConf when the config is composed, and the values by `validate`, before anything
trains. A field's `metadata` states its rule: `choices` (allowed values), `min` (lower bound) or
`inside` (an open interval (low, high)) or `range` (a half-open interval [low, high)). Every
field typed as a number must hold a finite one, rule or not: NaN passes no comparison, and
infinity every lower bound.
"""

from __future__ import annotations

import functools
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from numbers import Real
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from rnnmem.tasks import TASKS


def choice(default: str, allowed: tuple[str, ...] | Callable[[], tuple[str, ...]]) -> Any:
    """A field whose value must be one of `allowed` (or of what `allowed()` returns when it is
    validated, for a registry that can grow, like the tasks')."""
    return field(default=default, metadata={"choices": allowed})


def registered_tasks() -> tuple[str, ...]:
    """The task names of the registry `rnnmem.tasks.TASKS`, as they are now."""
    return tuple(TASKS)


def registered_cells() -> tuple[str, ...]:
    """The cell names of the registry `rnnmem.models.CELLS`, as they are now."""
    from rnnmem.models import CELLS

    return tuple(CELLS)


def registered_merges() -> tuple[str, ...]:
    """How a bidirectional net's two top-layer directions meet (`rnnmem.models.MERGES`)."""
    from rnnmem.models import MERGES

    return MERGES


def registered_inits() -> tuple[str, ...]:
    """The recurrent-weight initialisations (`rnnmem.models.INITS`)."""
    from rnnmem.models import INITS

    return INITS


def registered_optimisers() -> tuple[str, ...]:
    """The optimiser names of the registry `rnnmem.models.optimisers.OPTIMISERS`."""
    from rnnmem.models.optimisers import OPTIMISERS

    return tuple(OPTIMISERS)


def at_least(default: Any, bound: float) -> Any:
    return field(default=default, metadata={"min": bound})


def positive_or_null(default: float | None) -> Any:
    return field(default=default, metadata={"above": 0.0, "nullable": True})


def at_least_or_null(bound: float) -> Any:
    return field(default=None, metadata={"min": bound, "nullable": True})


@dataclass
class TaskConfig:
    """One memory benchmark (definitions in docs/tasks.md); `seq_len` is T.

    The keys after `delay` are options: a task takes those its class names (`options`) and
    needs each of them set (its `conf/task/<name>.yaml` sets them); the others stay null, and
    a null task key is not part of a run's identity (`rnnmem.rundir.identity`)."""

    name: str = choice("adding", registered_tasks)
    seq_len: int = at_least(50, 1)
    # "variable": the copy task's delay drawn per sequence from 1..T (`rnnmem.tasks.copy`)
    delay: str = choice("fixed", ("fixed", "variable"))
    # V, the alphabet with its special tokens (selective_copy, mqar)
    vocab_size: int | None = at_least_or_null(3)
    num_tokens: int | None = at_least_or_null(1)  # K tokens to recall (selective_copy)
    num_pairs: int | None = at_least_or_null(1)  # N key-value pairs (mqar)
    power_a: float | None = positive_or_null(None)  # the query gaps' power law (mqar)


@dataclass
class ModelConfig:
    """A stack of `depth` recurrent layers, uni- or bidirectional, and a linear readout."""

    cell: str = choice("lstm", registered_cells)
    depth: int = at_least(1, 1)
    bidirectional: bool = False
    merge: str = choice("concat", registered_merges)
    hidden_size: int = at_least(128, 1)
    # {cell: size}: a cell named here has its own hidden size (e.g. a positive control)
    hidden_size_by_cell: Any = None
    # N: pick hidden_size so that the net has N parameters within 2% (`rnnmem.models.budget`)
    param_budget: int | None = positive_or_null(None)
    # N: pick hidden_size so that each layer carries N recurrent state elements within 2%
    # (`rnnmem.budget`; per cell: `Cell.state_elements`); not with param_budget
    state_budget: int | None = positive_or_null(None)
    # N of the cells whose state has a size of its own: lru (complex states; null: N = H),
    # s6 (states per channel; null: 16); must be null for the other cells
    state_size: int | None = positive_or_null(None)
    init: str = choice("default", registered_inits)
    forget_bias: float | None = None


@dataclass
class OptimConfig:
    """Optimiser, learning rate and gradient-norm clipping (null: no clipping), and the lr and
    weight decay of each parameter role (`rnnmem.models.param_groups`)."""

    name: str = choice("adam", registered_optimisers)
    lr: float = field(default=1e-3, metadata={"above": 0.0})
    grad_clip: float | None = positive_or_null(1.0)
    # per-cell learning rates (e.g. from `hparams_search=lr`); a cell not named trains at `lr`
    lr_by_cell: Any = None  # {cell: lr}; untyped, so that the CLI can set the whole mapping
    # {role: factor} on the cell's lr, roles of rnnmem.models.ROLES (e.g. {recurrent: 0.1}); a
    # role not named keeps its cell's default (`Cell.lr_scale`: orth's recurrent 0.1), else 1
    lr_scale: Any = None
    weight_decay: float = at_least(0.0, 0.0)  # L2 penalty, as torch's optimisers add it
    weight_decay_scale: Any = None  # {role: factor} on weight_decay; a role not named: 1


@dataclass
class DataConfig:
    """Training batches are drawn on the device; held-out sets are fixed and cached on disk."""

    batch_size: int = at_least(64, 1)
    val_size: int = at_least(1000, 1)
    test_size: int = at_least(2000, 1)
    heldout_seed: int = 20260101
    # refuse held-out sets whose arrays (val + test, float32 inputs) would exceed this
    heldout_max_gb: float = field(default=4.0, metadata={"above": 0.0})
    cache_dir: str = "${oc.env:RNNMEM_CACHE,${oc.env:HOME}/.cache/rnnmem}/heldout"


@dataclass
class TrainerConfig:
    """The Lightning Trainer: `accelerator=auto` takes a GPU where there is one."""

    max_steps: int = at_least(2000, 1)
    val_every_n_steps: int = at_least(250, 1)
    log_every_n_steps: int = at_least(50, 1)
    accelerator: str = "auto"
    # bf16-mixed: autocast, refused on CUDA for fused cuDNN cells
    # (rnnmem.training.precision.bf16_refusal)
    precision: str = choice("32-true", ("32-true", "bf16-mixed"))
    # TF32 in cuDNN (the fused RNNs) and matmuls; off: training and probe see one function
    tf32: bool = False
    # on CUDA: deterministic algorithms, cuDNN deterministic, cuBLAS workspace
    # (rnnmem.training.precision)
    deterministic: bool = True
    # optimiser steps per Lightning batch; null: the largest divisor (<= 50) of every schedule
    steps_per_batch: int | None = None
    # flush subnormal floats to zero in the training steps (x86 computes them slowly); never in
    # the probe, item memory or evaluation (`rnnmem.models.denormals`)
    flush_denormal: bool = True
    progress_bar: bool = True


@dataclass
class ProbeConfig:
    """Gradient probe: exact input sensitivity ||dL/dx_t|| and ||dL/dh_t|| (float64) on a fixed
    held-out batch every `every_n_steps`; `threshold` in (0, 1) defines coverage and horizon."""

    enabled: bool = True
    every_n_steps: int = at_least(200, 1)
    batch_size: int = at_least(64, 1)
    # sequences per backward pass: bounds the probe's memory; the result is exact for any size
    chunk_size: int = at_least(32, 1)
    threshold: float = field(default=1e-2, metadata={"inside": (0.0, 1.0)})
    saturation: float = field(default=0.95, metadata={"min": 0.5})
    # item memory's sets: at least this many items at every lag the task can have
    # (`MemoryTask.memory_set`); a lag needs 10 to be measured (`rnnmem.measures.item_memory`)
    items_per_lag: int = at_least(30, 10)


@dataclass
class LoggerConfig:
    """`wandb` logs to Weights & Biases (offline unless WANDB_MODE says otherwise), `none` not."""

    name: str = choice("wandb", ("wandb", "none"))
    project: str = "rnnmem"
    entity: str | None = None
    group: str | None = None
    save_dir: str | None = None  # where `wandb/` goes; null: the run directory
    # WANDB_MODE=online without a key or without reaching the server: `offline` logs offline
    # (said once, in the sweep's summary too), `error` stops before anything trains
    if_unreachable: str = choice("offline", ("offline", "error"))


@dataclass
class CheckpointConfig:
    """Checkpoints every `every_minutes` and at SIGTERM/SIGUSR1/SIGUSR2/SIGINT; the checkpoint
    of a run that ends is removed unless `keep`."""

    every_minutes: float = field(default=10.0, metadata={"above": 0.0})
    keep: bool = False


@dataclass
class RunConfig:
    """One grid point: (task, cell, depth, direction, seq_len, seed)."""

    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    seed: int = field(default=0, metadata={"range": (0, 2**32)})  # numpy's and torch's seeds
    threads: int | None = field(default=None, metadata={"min": 1, "nullable": True})
    jobs_per_gpu: int = at_least(4, 1)
    name: str = MISSING
    # a record or checkpoint in the run's directory made by other code (`rnnmem.rundir.code`):
    # stop with one line (`error`), train again from scratch (`rerun`), or keep it (`keep`)
    on_code_change: str = choice("error", ("error", "rerun", "keep"))


def direction_label(bidirectional: bool) -> str:
    """'bi' or 'uni', as run names (`conf/train.yaml`: name), tables and figures spell it."""
    return "bi" if bidirectional else "uni"


def typed(cfg: DictConfig) -> RunConfig:
    """The composed config as the typed dataclasses of its schema, every value resolved: what
    the entry point hands below it (`rnnmem.train`), each module then reading its section."""
    return OmegaConf.to_object(cfg)


class ConfigError(ValueError):
    """A config value outside its allowed set; the message is one line for the user."""


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError naming the first bad value and the allowed ones: unknown keys (a typo
    such as `+optim.lrr=0.5` is rejected, not ignored), each field's rule, then the limits only
    the task knows (its minimum length, the held-out sets' size against the memory budget)."""
    validate_fields(cfg)
    validate_by_cell(cfg, "optim.lr_by_cell")
    validate_by_cell(cfg, "model.hidden_size_by_cell")
    validate_by_role(cfg, "optim.lr_scale", zero_allowed=False)
    validate_by_role(cfg, "optim.weight_decay_scale", zero_allowed=True)
    validate_cell_options(cfg.model)
    validate_task_limits(cfg)


def validate_by_cell(cfg: DictConfig, key: str) -> None:
    """The per-cell mapping `key` a mapping (or null), every key a registered cell, every value
    a finite number > 0."""
    mapping = OmegaConf.select(cfg, key)
    if mapping is None:
        return
    if not isinstance(mapping, DictConfig):
        raise ConfigError(f"{key}={_shown(mapping)} must be a mapping {{cell: value}} "
                          "(or null)")
    for cell, value in mapping.items():
        if cell not in registered_cells():
            raise ConfigError(f"{key}.{cell}: {cell!r} is not one of: "
                              f"{', '.join(registered_cells())}")
        if not _is_number(value) or not math.isfinite(value):
            raise ConfigError(f"{key}.{cell}={value!r} must be a finite number > 0")
        if value <= 0:
            raise ConfigError(f"{key}.{cell}={value!r} must be > 0")


def validate_by_role(cfg: DictConfig, key: str, *, zero_allowed: bool) -> None:
    """The per-role mapping `key` a mapping (or null), every key a role of
    `rnnmem.models.ROLES`, every value a finite number > 0 (>= 0 where `zero_allowed`)."""
    from rnnmem.models import ROLES

    mapping = OmegaConf.select(cfg, key)
    if mapping is None:
        return
    if not isinstance(mapping, DictConfig):
        raise ConfigError(f"{key}={_shown(mapping)} must be a mapping {{role: factor}} of "
                          f"roles: {', '.join(ROLES)}")
    bound = ">= 0" if zero_allowed else "> 0"
    for role, value in mapping.items():
        if role not in ROLES:
            raise ConfigError(f"{key}.{role}: {role!r} is not one of: {', '.join(ROLES)}")
        if (not _is_number(value) or not math.isfinite(value) or value < 0
                or (value == 0 and not zero_allowed)):
            raise ConfigError(f"{key}.{role}={value!r} must be a finite number {bound}")


def validate_cell_options(model: DictConfig) -> None:
    """The options that apply to some cells only (`rnnmem.models.cells.Cell`'s flags):
    `model.init=orthogonal` (a W_hh), `model.forget_bias` (the LSTM's forget gate),
    `model.state_size` (a state size of its own: lru, s6)."""
    from rnnmem.models import CELLS

    spec = CELLS[model.cell]
    options = (("init", model.init == "orthogonal", "recurrent_matrix"),
               ("forget_bias", model.forget_bias is not None, "has_forget_bias"),
               ("state_size", model.state_size is not None, "takes_state_size"))
    for key, used, flag in options:
        if used and not getattr(spec, flag):
            having = [name for name, cell in CELLS.items() if getattr(cell, flag)]
            raise ConfigError(f"model.{key}={model.get(key)!r} applies to "
                              f"{', '.join(having)} only, not model.cell={model.cell}")


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _shown(value: object) -> str:
    """A config value as the user wrote it: a node as plain data, anything else by repr."""
    if isinstance(value, DictConfig | ListConfig):
        return repr(OmegaConf.to_container(value))
    return repr(value)


@functools.cache
def numeric_fields(schema: type) -> frozenset[str]:
    """The fields of a schema dataclass typed as a number (int or float, or either or None)."""
    hints = typing.get_type_hints(schema)
    numbers = {int, float}
    return frozenset(name for name, hint in hints.items()
                     if hint in numbers or set(typing.get_args(hint)) - {type(None)} <= numbers
                     and typing.get_args(hint))


def validate_fields(cfg: DictConfig, schema: type = RunConfig, prefix: str = "") -> None:
    """Unknown keys, a finite value in every numeric field, and each field's `choices`, `min`,
    `above` (strict), `inside`, `range` rule."""
    known = {spec.name for spec in fields(schema)}
    unknown = sorted(key for key in cfg.keys() if key not in known and key != "hydra")
    if unknown:
        raise ConfigError(f"unknown key {prefix}{unknown[0]}; known keys of "
                          f"{prefix.rstrip('.') or 'the config'}: {', '.join(sorted(known))}")
    for spec in fields(schema):
        key = f"{prefix}{spec.name}"
        if is_dataclass(spec.default_factory):
            validate_fields(cfg.get(spec.name), spec.default_factory, f"{key}.")
            continue
        allowed, bound = spec.metadata.get("choices"), spec.metadata.get("min")
        if callable(allowed):
            allowed = allowed()
        above, interval = spec.metadata.get("above"), spec.metadata.get("inside")
        span = spec.metadata.get("range")
        numeric = spec.name in numeric_fields(schema)
        ruled = any(rule is not None for rule in (allowed, bound, above, interval, span))
        if not ruled and not numeric:
            continue  # read only values with a rule: others may interpolate job-time values
        value = cfg.get(spec.name)
        if value is None and (spec.metadata.get("nullable") or not ruled):
            continue
        if numeric and not (_is_number(value) and math.isfinite(value)):
            rule = (f" > {above}" if above is not None else f" >= {bound}" if bound is not None
                    else "")
            raise ConfigError(f"{key}={value!r} must be a finite number{rule}")
        if allowed is not None and value not in allowed:
            raise ConfigError(f"{key}={value!r} is not one of: {', '.join(allowed)}")
        if bound is not None and value < bound:
            raise ConfigError(f"{key}={value!r} must be >= {bound}")
        if above is not None and value <= above:
            nullable = " (or null)" if spec.metadata.get("nullable") else ""
            raise ConfigError(f"{key}={value!r} must be > {above}{nullable}")
        if interval is not None and not interval[0] < value < interval[1]:
            raise ConfigError(f"{key}={value!r} must lie in the open interval "
                              f"({interval[0]:g}, {interval[1]:g})")
        if span is not None and not span[0] <= value < span[1]:
            raise ConfigError(f"{key}={value!r} must satisfy {span[0]} <= {key} < {span[1]}")


def validate_task_limits(cfg: DictConfig) -> None:
    """The task's own minimum length and options, at most one of `model.param_budget` and
    `model.state_budget`, a budget that some hidden size meets for this task, and the held-out
    sets' estimated size against `data.heldout_max_gb` (checked in microseconds, before
    anything is generated)."""
    from rnnmem.tasks import AXIS_KEYS, TASKS, heldout_nbytes, task_from_config, task_options

    task_class = TASKS[cfg.task.name]
    if cfg.task.seq_len < task_class.min_seq_len:
        raise ConfigError(f"task.seq_len={cfg.task.seq_len!r} must be >= "
                          f"{task_class.min_seq_len} for task={cfg.task.name}")
    if cfg.task.delay not in task_class.delays:
        raise ConfigError(f"task.delay={cfg.task.delay!r} is not one of: "
                          f"{', '.join(task_class.delays)} for task={cfg.task.name}")
    options = task_options(task_class)
    for key in (spec.name for spec in fields(TaskConfig) if spec.name not in AXIS_KEYS):
        value = cfg.task.get(key)
        if key in options and value is None:
            raise ConfigError(f"task.{key} is null, but task={cfg.task.name} needs it (the "
                              f"config group task={cfg.task.name} sets it)")
        if key not in options and value is not None:
            raise ConfigError(f"task.{key}={value!r} is not an option of task={cfg.task.name}"
                              f" (its options: {', '.join(options) or 'none'}); leave it null")
    try:
        task = task_from_config(cfg.task)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    model = cfg.model
    if model.param_budget is not None and model.state_budget is not None:
        raise ConfigError(f"model.param_budget={model.param_budget} and model.state_budget="
                          f"{model.state_budget}: set one of them, not both")
    if model.param_budget is not None or model.state_budget is not None:
        from rnnmem.models.budget import sizing

        try:
            sizing(model, task)
        except ValueError as err:
            task_named = f" for task={cfg.task.name}" if model.param_budget is not None else ""
            raise ConfigError(f"{err}{task_named}") from None
    need = sum(heldout_nbytes(task, size) for size in (cfg.data.val_size, cfg.data.test_size))
    if need > cfg.data.heldout_max_gb * 1e9:
        raise ConfigError(
            f"task.seq_len={cfg.task.seq_len!r}: the held-out sets (val_size="
            f"{cfg.data.val_size}, test_size={cfg.data.test_size}) need about {need / 1e9:.3g} GB,"
            f" over data.heldout_max_gb={cfg.data.heldout_max_gb}"
        )


def register_config() -> None:
    """Register what `conf/train.yaml` needs before Hydra composes and resolves it: the schema
    (its default `schema`) and the resolvers of its interpolations,

        ${direction:b}    'bi' or 'uni' (`direction_label`)
        ${basename:path}  the last component of a path
        ${run_hash:}      the short hash of the run's config (`rnnmem.rundir.identity.short_hash`)
        ${sweep_jobs:..}  the parallel jobs of a local sweep (`rnnmem.hardware.sweep_jobs`).

    Called explicitly, never by importing a module: by the entry point (`rnnmem.train`), in
    each sweep job's process before Hydra resolves the job's directory (the launchers of
    `hydra_plugins.rnnmem_launcher`), and by the tests and benchmarks that compose the config.
    Registering again replaces the same functions."""
    from rnnmem.hardware import sweep_jobs
    from rnnmem.rundir.identity import short_hash

    ConfigStore.instance().store(name="schema", node=RunConfig)
    resolvers: dict[str, Callable[..., Any]] = {
        "direction": direction_label,
        "basename": lambda path: Path(path).name,
        "run_hash": short_hash,
        "sweep_jobs": sweep_jobs,
    }
    for name, resolver in resolvers.items():
        OmegaConf.register_new_resolver(name, resolver, replace=True)
