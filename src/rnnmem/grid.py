"""The sweep's grid: the arguments that define it, the jobs Hydra expands them into, and the one
parser of Hydra overrides the harness reads them with.

    arguments = the sweeper's params (key=v1,v2,...), then the command line's overrides
    jobs      = the cartesian product of every swept key's values, in Hydra's basic sweeper's
                order (`BasicSweeper.split_arguments`)
    settings  = the config values one job's overrides set, by config key (`job_settings`)

    run label  = <task>/<cell>-d<depth>-<uni|bi>-T<seq_len>-s<seed>   (conf/train.yaml's `name`)
    run dir    = <sweep>/<task>/<name>-<first 8 hex digits of the run hash>

The files of a sweep directory are named by `rnnmem.rundir.paths.SweepDir`. The sweep's
bookkeeping (`rnnmem.sweeps.monitor`) and the figures' expected grid
(`rnnmem.reporting.expected`) both read the grid from here, so that drawing a sweep's figures
needs no part of the training stack. Hydra's internal `BasicSweeper` comes through
`rnnmem.framework` (the sweeper plugin in `src/hydra_plugins/` subclasses it, importing it from
Hydra at Hydra's plugin scan).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf

from rnnmem.config import direction_label
from rnnmem.framework import BasicSweeper


def sweep_arguments(config: DictConfig) -> list[str]:
    """The sweeper's params, then the command line's overrides, as Hydra combines them."""
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    overrides = OmegaConf.select(config, "hydra.overrides.task") or []
    return [f"{key}={value}" for key, value in params.items()] + list(overrides)


# A group choice on the command line, as the config key it selects.
GROUP_KEYS = {"task": "task.name", "model": "model.cell", "optim": "optim.name",
              "logger": "logger.name"}
TOP_LEVEL_KEYS = ("seed", "threads", "name")  # config keys without a section


def parse(arguments: Sequence[str]) -> list[Override]:
    """Hydra's own parse of command-line overrides (`key=value`, `key=a,b`, `+key=..`, `~key`):
    the one parser of overrides in the harness."""
    return OverridesParser.create().parse_overrides(list(arguments))


def unknown_choice(arguments: Sequence[str], conf_dir: Path) -> str | None:
    """One line naming the first group choice among `arguments` that `conf_dir` has no file for
    (`+experiment=nosuch`: 'experiment=nosuch is not one of: arjovsky2016, default, ...'), or
    None. Only the config groups of `conf_dir` outside `hydra/` are checked, and only choices
    that are not sweeps: a swept value that does not compose fails its own job alone
    (`rnnmem.sweeps.monitor`). Arguments that are not overrides (flags) are skipped, and so is
    every check where the command line adds a config search path."""
    if any(a.startswith(("--config-dir", "-cd", "--config-path", "-cp")) for a in arguments):
        return None
    overrides = [a for a in arguments if not a.startswith("-")]
    try:
        parsed = parse(overrides)
    except Exception:  # a syntax error: Hydra's own message says where
        return None
    if any("searchpath" in override.key_or_group for override in parsed):
        return None
    for override in parsed:
        group = override.key_or_group
        folder = Path(conf_dir) / group
        if (override.is_delete() or override.is_sweep_override() or group.startswith("hydra")
                or "." in group or not folder.is_dir()):
            continue
        options = sorted(path.stem for path in folder.glob("*.yaml"))
        value = override.value()
        if isinstance(value, str) and value not in options and value != "null":
            return f"{group}={value} is not one of: {', '.join(options)}"
    return None


def expand(arguments: Sequence[str]) -> list[list[str]]:
    """The override list of every job that `arguments` sweep over, as Hydra's basic sweeper
    expands them: the cartesian product of every sweep's values, in argument order."""
    return BasicSweeper.split_arguments(parse(arguments), None)[0]


def swept_keys(arguments: Sequence[str]) -> set[str]:
    """The keys (as `expand` writes them, `+` included) that `arguments` sweep over."""
    return {override.get_key_element() for override in parse(arguments)
            if override.is_sweep_override()}


def by_key(arguments: Sequence[str]) -> dict[str, Override]:
    """The arguments by the key or group each sets, a later one replacing an earlier, as Hydra
    applies them."""
    return {override.key_or_group: override for override in parse(arguments)}


def grid_jobs(config: DictConfig) -> list[list[str]]:
    """The override list of every job of the multirun, as Hydra's basic sweeper expands it."""
    return expand(sweep_arguments(config))


def job_settings(job: Sequence[str]) -> dict[str, object]:
    """The config values that one job's overrides set, by config key, typed as Hydra types
    them; a group choice counts as the key it selects (`task=copy` is task.name = copy,
    `model=gru` model.cell = gru). Hydra's own keys, presets and other groups, which set no
    single key, are left out."""
    settings: dict[str, object] = {}
    for override in parse(job):
        key = override.key_or_group
        if override.is_delete() or key.startswith("hydra") or "/" in key:
            continue
        if "." not in key and key in GROUP_KEYS:
            key = GROUP_KEYS[key]
        elif "." not in key and key not in TOP_LEVEL_KEYS:
            continue
        settings[key] = override.value()
    return settings


def run_label(task: object, cell: object, depth: object, bidirectional: object,
              seq_len: object, seed: object) -> str:
    """`task/name` as the sweep's run directory names it (conf/train.yaml: `name`, `subdir`;
    tests/test_grid.py checks the two agree)."""
    return f"{task}/{cell}-d{depth}-{direction_label(bidirectional)}-T{seq_len}-s{seed}"


def name_of_run_dir(dir_name: str) -> str:
    """The run's `name` from its directory's name, `<name>-<hash>`."""
    return dir_name.rsplit("-", 1)[0]
