"""A sweep's rows: every recorded run, and a row with status "missing" for each point of the
sweep's grid that left no record.

The grid is the one Hydra ran, rebuilt from `multirun.yaml` (the sweeper's params and the
command-line sweeps) through `rnnmem.grid`, the one parser of overrides, as
`rnnmem.sweeps.monitor` counts it; without `multirun.yaml` only `sweep.json`'s job count is
known, and the shortfall is listed as unknown grid points. A grid point is matched by its
job's overrides against the records' resolved configs (`matches`), never by directory names.
Swept keys beyond the usual axes (hidden size, lr, ...) become columns named by the key,
listed in `attrs['extra_axes']`, and so do the keys in which the directory's records differ
without being swept (a rerun with another hidden size beside the first sweep, an lr search's
trials) and, where the records were made by more than one version of the code, their source
digest (`rnnmem.reporting.differences`); `attrs['grouping']` says why each is there.

A row's status is its record's, or: `missing` (a grid point without a record), `damaged` (a
finished or diverged record whose probe arrays cannot be read back, `rundir.record.
probe_problem`: skipped with one warning line; a resumed sweep trains it again), `running` (a
preempted or failed record whose run directory's lock is held now: it is being trained)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from numbers import Number
from pathlib import Path

import pandas as pd
import yaml
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rnnmem.grid import by_key, grid_jobs, job_settings, run_label, sweep_arguments
from rnnmem.reporting.differences import SOURCE, differing_keys, leaf, source_versions
from rnnmem.reporting.records import AXES, load_sweep
from rnnmem.rundir.lock import lock_held
from rnnmem.rundir.paths import SweepDir
from rnnmem.rundir.record import COMPLETE, probe_problem, read_record

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
    configs (`matches`), not by directory names. Swept keys beyond the usual axes, and the keys
    in which the records differ (module docstring), become columns named by the key, listed in
    `attrs['extra_axes']`; `attrs['grouping']` holds (key, why) for each, `attrs['grid_points']`
    the grid's size (None without `multirun.yaml`) and the column `in_grid` whether a row is a
    point of it."""
    sweep_dir = Path(sweep_dir)
    runs = load_sweep(sweep_dir)
    runs["run"] = [Path(d).resolve().relative_to(sweep_dir.resolve()).as_posix()
                   for d in runs["run_dir"]]
    records = [read_record(Path(d)) for d in runs["run_dir"]]
    configs = [record.get("config") or {} for record in records]
    differing = differing_keys(configs)
    grid = expected_grid(sweep_dir, also=differing)
    swept = list(grid.attrs["extra_axes"]) if grid is not None else []
    extra = swept + [key for key in differing if key not in swept]
    grouping = [(key, "swept" if key in swept else "records differ in it at one grid point")
                for key in extra]
    for key in extra:
        runs[key] = [leaf(config_value(c, key)) for c in configs]
        runs[key] = runs[key].where(runs[key] != MISSING_VALUE, None)
    versions = source_versions([record.get("source_digest") for record in records])
    if len(versions) > 1:
        runs[SOURCE] = [d[:8] if isinstance(d, str) and d else None
                        for d in (record.get("source_digest") for record in records)]
        extra.append(SOURCE)
        grouping.append((SOURCE, "records of " + ", ".join(
            f"{digest} ({n} runs)" for digest, n in versions.items())))
    checked = [row_status(Path(d), record) for d, record in zip(runs["run_dir"], records,
                                                                 strict=True)]
    runs["status"] = [status for status, _ in checked]
    runs["error"] = [why or error for (_, why), error in zip(checked, runs["error"], strict=True)]
    missing: list[dict[str, object]] = []
    runs["in_grid"] = False
    if grid is not None:
        matched = [False] * len(configs)
        for point in grid.to_dict("records"):
            found = [i for i, config in enumerate(configs) if matches(config, point["settings"])]
            for i in found:
                matched[i] = True
            if not found:
                point.pop("settings")
                missing.append({**point, "status": "missing", "solved": False, "in_grid": True})
        runs["in_grid"] = matched
    else:
        total = expected_total(sweep_dir) or 0
        missing = [{"run": f"unknown grid point {i + 1}", "status": "missing", "solved": False,
                    "in_grid": True} for i in range(max(total - len(runs), 0))]
    if missing:
        runs = pd.concat([runs, pd.DataFrame(missing)], ignore_index=True)
    runs = runs.astype({axis: kind for axis, kind in AXIS_TYPES.items()})
    runs = runs.sort_values([*AXES, *extra, "run"], kind="stable", na_position="last",
                            key=_sortable)
    runs = runs.reset_index(drop=True)
    runs.attrs["extra_axes"] = extra
    runs.attrs["grouping"] = grouping
    runs.attrs["grid_points"] = len(grid) if grid is not None else None
    return runs


def row_status(run_dir: Path, record: Mapping[str, object]) -> tuple[str, str | None]:
    """A record's status for the figures, and why where it is not the record's own: `damaged`
    where a complete record's probe arrays cannot be read back (one warning line; a resumed
    sweep trains it again), `running` where a preempted or failed run's lock is held now."""
    status = str(record["status"])
    if status in COMPLETE:
        problem = probe_problem(run_dir, record)
        if problem is not None:
            print(f"rnnmem.reporting.expected: warning: skipping {run_dir}: {problem}; a "
                  "resumed sweep trains it again", file=sys.stderr)
            return "damaged", problem
    elif lock_held(run_dir):
        return "running", None
    return status, None


def _sortable(column: pd.Series) -> pd.Series:
    """A column that mixes numbers with text (a key that is a number in one record and text in
    another) sorted as text; others as they are."""
    values = column.dropna()
    if values.map(lambda v: isinstance(v, Number)).all() or values.map(
            lambda v: isinstance(v, str)).all():
        return column
    return column.map(lambda value: None if value is None else repr(value))


def expected_grid(sweep_dir: Path, also: Sequence[str] = ()) -> pd.DataFrame | None:
    """The grid points Hydra launched for this sweep, from `multirun.yaml` (None without it):
    one row each with the axes of AXIS_KEYS, `settings` (`job_settings`: what its overrides
    set), a column per other swept key (`extra_axes`: keys with several values over the
    jobs, e.g. model.hidden_size) and per key of `also` (its value in the sweep's config where
    the job does not set it), and `run`, a readable label."""
    config = _multirun(sweep_dir)
    if config is None:
        return None
    try:
        jobs = grid_jobs(config)
    except (HydraException, OmegaConfBaseException, TypeError, ValueError, AttributeError) as err:
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
        for key in also:
            point.setdefault(key, leaf(chosen.get(key, _select(config, key))))
        point["settings"] = chosen
        label = run_label(*(point[axis] for axis in
                            ("task", "cell", "depth", "bidirectional", "seq_len", "seed")))
        point["run"] = label + "".join(f" {key}={point[key]}" for key in extra)
        rows.append(point)
    others = [key for key in also if key not in extra]
    frame = pd.DataFrame(rows, columns=[*AXIS_KEYS.values(), *extra, *others, "settings", "run"])
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
        config = OmegaConf.load(path)
    except (OSError, ValueError, OmegaConfBaseException, yaml.YAMLError) as err:
        reason = " ".join(str(err).split())
        print(f"rnnmem.reporting.expected: warning: ignoring {path}: {reason}", file=sys.stderr)
        return None
    if not isinstance(config, DictConfig):
        print(f"rnnmem.reporting.expected: warning: ignoring {path}: not a mapping",
              file=sys.stderr)
        return None
    lacking = [key for key in AXIS_KEYS if _select(config, key) is None]
    if lacking:  # cut short: a grid rebuilt from it would not be the sweep's
        print(f"rnnmem.reporting.expected: warning: ignoring {path}: it lacks "
              f"{', '.join(lacking)} (cut short?)", file=sys.stderr)
        return None
    return config


def _select(config: DictConfig, key: str) -> object:
    """`key` of the sweep's config (None where it is absent or cannot be resolved)."""
    try:
        return OmegaConf.select(config, key)
    except OmegaConfBaseException:
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
