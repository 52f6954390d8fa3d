"""The sweep's grid: the arguments that define it and the jobs Hydra expands them into.

    arguments = the sweeper's params (key=v1,v2,...), then the command line's overrides
    jobs      = the cartesian product of every swept key's values, in Hydra's basic sweeper's
                order (`BasicSweeper.split_arguments`)

    run label  = <task>/<cell>-d<depth>-<uni|bi>-T<seq_len>-s<seed>   (conf/train.yaml's `name`)
    run dir    = <sweep>/<task>/<name>-<first 8 hex digits of the run hash>

The files of a sweep directory are named by `rnnmem.rundir.paths.SweepDir`. The sweep's bookkeeping
(`rnnmem.sweeps.monitor`) and the figures' expected grid (`rnnmem.reporting.analysis`) both read the
grid from here, so that drawing a sweep's figures needs no part of the training stack. Hydra's
internal `BasicSweeper` comes through `rnnmem.framework` (the sweeper plugin in
`src/hydra_plugins/` subclasses it, importing it from Hydra at Hydra's plugin scan).
"""

from __future__ import annotations

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from rnnmem.config import direction_label
from rnnmem.framework import BasicSweeper


def sweep_arguments(config: DictConfig) -> list[str]:
    """The sweeper's params, then the command line's overrides, as Hydra combines them."""
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    overrides = OmegaConf.select(config, "hydra.overrides.task") or []
    return [f"{key}={value}" for key, value in params.items()] + list(overrides)


def grid_jobs(config: DictConfig) -> list[list[str]]:
    """The override list of every job of the multirun, as Hydra's basic sweeper expands it."""
    overrides = OverridesParser.create().parse_overrides(sweep_arguments(config))
    return BasicSweeper.split_arguments(overrides, None)[0]


def run_label(task: object, cell: object, depth: object, bidirectional: object,
              seq_len: object, seed: object) -> str:
    """`task/name` as the sweep's run directory names it (conf/train.yaml: `name`, `subdir`;
    tests/test_grid.py checks the two agree)."""
    return f"{task}/{cell}-d{depth}-{direction_label(bidirectional)}-T{seq_len}-s{seed}"


def name_of_run_dir(dir_name: str) -> str:
    """The run's `name` from its directory's name, `<name>-<hash>`."""
    return dir_name.rsplit("-", 1)[0]
