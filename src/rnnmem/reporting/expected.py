"""A sweep's rows: every recorded run, and a row with status "missing" for each point of the
sweep's grid that left no record.

The grid is the one Hydra ran, rebuilt from `multirun.yaml` (the sweeper's params and the
command-line sweeps) through `rnnmem.grid`, the one parser of overrides, as
`rnnmem.sweeps.monitor` counts it; without `multirun.yaml` only `sweep.json`'s job count is
known, and the shortfall is listed as unknown grid points. A grid point is matched by its
job's overrides against the records' resolved configs (`matches`), never by directory names.
Swept keys beyond the usual axes (hidden size, lr, ...) become columns named by the key,
listed in `attrs['extra_axes']`."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import yaml
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rnnmem.grid import by_key, grid_jobs, job_settings, run_label, sweep_arguments
from rnnmem.reporting.records import AXES, load_sweep
from rnnmem.rundir.paths import SweepDir
from rnnmem.rundir.record import read_record

# Config keys of the grid axes, as Hydra overrides name them.
AXIS_KEYS = {
    "task.name": "task", "task.seq_len": "seq_len", "model.cell": "cell",
    "model.depth": "depth", "model.bidirectional": "bidirectional", "seed": "seed",
}
MISSING_VALUE = object()  # a key a config does not have
AXIS_TYPES = {"depth": "Int64", "seq_len": "Int64", "seed": "Int64", "bidirectional": "boolean"}


def sweep_runs(sweep_dir: Path) -> pd.DataFrame:
    """Every recorded run (`load_sweep`) and every grid point that no record matches (status
    'missing'), with `run` = the run directory relative to the sweep, sorted by the config
    axes. A grid point is matched by its job's overrides against the records' resolved
    configs (`matches`), not by directory names. Swept keys beyond the usual axes become
    columns named by the key, listed in `attrs['extra_axes']`."""
    sweep_dir = Path(sweep_dir)
    runs = load_sweep(sweep_dir)
    runs["run"] = [Path(d).resolve().relative_to(sweep_dir.resolve()).as_posix()
                   for d in runs["run_dir"]]
    configs = [read_record(Path(d)).get("config") or {} for d in runs["run_dir"]]
    grid = expected_grid(sweep_dir)
    extra = list(grid.attrs["extra_axes"]) if grid is not None else []
    for key in extra:
        runs[key] = [config_value(c, key) for c in configs]
        runs[key] = runs[key].where(runs[key] != MISSING_VALUE, None)
    missing: list[dict[str, object]] = []
    if grid is not None:
        for point in grid.to_dict("records"):
            if not any(matches(config, point["settings"]) for config in configs):
                point.pop("settings")
                missing.append({**point, "status": "missing", "solved": False})
    else:
        total = expected_total(sweep_dir) or 0
        missing = [{"run": f"unknown grid point {i + 1}", "status": "missing", "solved": False}
                   for i in range(max(total - len(runs), 0))]
    if missing:
        runs = pd.concat([runs, pd.DataFrame(missing)], ignore_index=True)
    runs = runs.astype({axis: kind for axis, kind in AXIS_TYPES.items()})
    runs = runs.sort_values([*AXES, *extra, "run"], kind="stable", na_position="last")
    runs = runs.reset_index(drop=True)
    runs.attrs["extra_axes"] = extra
    return runs


def expected_grid(sweep_dir: Path) -> pd.DataFrame | None:
    """The grid points Hydra launched for this sweep, from `multirun.yaml` (None without it):
    one row each with the axes of AXIS_KEYS, `settings` (`job_settings`: what its overrides
    set), a column per other swept key (`extra_axes`: keys with several values over the
    jobs, e.g. model.hidden_size), and `run`, a readable label."""
    config = _multirun(sweep_dir)
    if config is None:
        return None
    try:
        jobs = grid_jobs(config)
    except HydraException as err:
        print(f"rnnmem.reporting.expected: warning: cannot rebuild the grid: {err}",
              file=sys.stderr)
        return None
    base = {axis: OmegaConf.select(config, key) for key, axis in AXIS_KEYS.items()}
    settings = [job_settings(job) for job in jobs]
    extra = extra_axes(settings)
    rows = []
    for job, chosen in zip(jobs, settings, strict=True):
        point: dict[str, object] = dict(base)
        task_choice = by_key(job).get("task")
        if task_choice is not None and task_choice.value() != base["task"]:
            point["seq_len"] = _group_default(config, "task", task_choice.value(), "seq_len",
                                              base["seq_len"])
        for key, axis in AXIS_KEYS.items():
            if key in chosen:
                point[axis] = chosen[key]
        for key in extra:
            point[key] = chosen.get(key, OmegaConf.select(config, key))
        point["settings"] = chosen
        label = run_label(*(point[axis] for axis in
                            ("task", "cell", "depth", "bidirectional", "seq_len", "seed")))
        point["run"] = label + "".join(f" {key}={point[key]}" for key in extra)
        rows.append(point)
    frame = pd.DataFrame(rows, columns=[*AXIS_KEYS.values(), *extra, "settings", "run"])
    frame.attrs["extra_axes"] = extra
    return frame


def extra_axes(settings: Sequence[Mapping[str, object]]) -> list[str]:
    """The config keys beyond AXIS_KEYS that take more than one value over the jobs."""
    values: dict[str, set[str]] = {}
    for chosen in settings:
        for key, value in chosen.items():
            values.setdefault(key, set()).add(repr(value))
    return sorted(key for key, seen in values.items() if len(seen) > 1 and key not in AXIS_KEYS)


def config_value(config: Mapping[str, object], key: str) -> object:
    """`key` (dotted) of a nested config mapping; MISSING_VALUE where it is absent."""
    node: object = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING_VALUE
        node = node[part]
    return node


def matches(config: Mapping[str, object], settings: Mapping[str, object]) -> bool:
    """Whether a record's resolved config holds every value a job's overrides set (numbers
    compared as numbers: 1e-2 is 0.01)."""
    for key, wanted in settings.items():
        value = config_value(config, key)
        if value == wanted:
            continue
        try:
            if isinstance(value, bool) or isinstance(wanted, bool) or (
                    float(value) != float(wanted)):  # type: ignore[arg-type]
                return False
        except (TypeError, ValueError):
            return False
    return True


def sweep_preset(sweep_dir: Path) -> tuple[str | None, list[str]]:
    """The experiment preset (`+experiment=NAME`) of a sweep and its swept arguments, as Hydra
    applied them (a later value of a key replaces an earlier one)."""
    config = _multirun(sweep_dir)
    if config is None:
        return None, []
    effective = by_key(sweep_arguments(config))
    preset = effective["experiment"].value() if "experiment" in effective else None
    return preset, [override.input_line for override in effective.values()
                    if override.is_sweep_override()]


def expected_total(sweep_dir: Path) -> int | None:
    """The job count that `rnnmem.sweeps.monitor` wrote to `sweep.json`, if any."""
    try:
        return int(json.loads(SweepDir(sweep_dir).state.read_text())["total"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _multirun(sweep_dir: Path) -> DictConfig | None:
    """The sweep's `multirun.yaml` (None, with a warning if it cannot be read)."""
    path = SweepDir(sweep_dir).multirun
    if not path.exists():
        return None
    try:
        return OmegaConf.load(path)
    except (OSError, ValueError, OmegaConfBaseException) as err:
        print(f"rnnmem.reporting.expected: warning: ignoring {path}: {err}", file=sys.stderr)
        return None


def _group_default(config: DictConfig, group: str, option: str, key: str,
                   fallback: object) -> object:
    """`key` of `<group>/<option>.yaml` (what choosing that option sets it to) in the config
    directory the sweep was composed from, as its `multirun.yaml` names it
    (`hydra.runtime.config_sources`, the main provider's); `fallback` where that is unknown or
    gone."""
    sources = OmegaConf.select(config, "hydra.runtime.config_sources") or []
    for source in sources:
        if source.get("provider") == "main" and source.get("schema") == "file":
            path = Path(source["path"]) / group / f"{option}.yaml"
            if path.exists():
                return (yaml.safe_load(path.read_text()) or {}).get(key, fallback)
    return fallback
