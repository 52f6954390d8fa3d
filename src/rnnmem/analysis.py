"""The analysis of a sweep's records: which runs a figure or table shows, and their numbers.

`sweep_runs` reads every record under a sweep directory and adds one row, status "missing",
for each point of the sweep's grid that left no record: the grid is the one Hydra ran, rebuilt
from `multirun.yaml` (the sweeper's params and the command-line sweeps, as `rnnmem.sweep`
counts them); without it only `sweep.json`'s job count is known, and the shortfall is listed
as unknown grid points. The rest are pandas selections of those rows (`select`, `finished`,
`gaps_for`), spreads over seeds (`range_band`, `log_band`), the probe's and the records'
curves as long tables (`distance_curves`, `gate_curves`, `loss_curves`, `forgetting_curves`)
and the notes that name what a figure could not draw. Plotting lives in `rnnmem.figures`.

Conventions. Over seeds, metrics are averaged arithmetically and gradient norms geometrically
(mean of log10 g), with the band from the smallest to the largest seed (log10 g +- one standard
deviation for gradient norms). "Solved" for a configuration: more than half of its completed
(finished or diverged) seeds solved it. Records with status "preempted" (stopped, to be
resumed) count as not finished, like a missing run.
"""

from __future__ import annotations

import json
import math
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rnnmem.config import direction_label
from rnnmem.directories import SweepDir
from rnnmem.forgetting import memory_span, pool
from rnnmem.grid import grid_jobs, run_label, sweep_arguments
from rnnmem.models import CELLS
from rnnmem.probe import DIRECTIONS, by_distance
from rnnmem.record import read_record
from rnnmem.results import AXES, load_item_memory, load_sweep
from rnnmem.tasks import TASKS, MemoryTask, make_task

CELL_ORDER = tuple(CELLS)  # the registry's order (the paper's cells first); others by name
CELL_LABELS = {name: cell.label for name, cell in CELLS.items()}
GAP_STATUSES = ("failed", "diverged", "preempted", "missing")
# Config keys of the grid axes, as Hydra overrides name them.
AXIS_KEYS = {
    "task.name": "task", "task.seq_len": "seq_len", "model.cell": "cell",
    "model.depth": "depth", "model.bidirectional": "bidirectional", "seed": "seed",
}
# A group choice on the command line, as the config key it selects.
GROUP_KEYS = {"task": "task.name", "model": "model.cell", "optim": "optim.name",
              "logger": "logger.name"}
TOP_LEVEL_KEYS = ("seed", "threads", "name")
MISSING_VALUE = object()  # a key a config does not have
AXIS_TYPES = {"depth": "Int64", "seq_len": "Int64", "seed": "Int64", "bidirectional": "boolean"}


@dataclass(frozen=True)
class MetricSpec:
    """How a task's final held-out metric is read and drawn (from its task class): column,
    axis label, memoryless value and its label, solved threshold, direction, log scale."""

    column: str
    label: str
    baseline: float
    baseline_label: str
    threshold: float
    higher_is_better: bool
    log: bool


def recorded_task(runs: pd.DataFrame, task: str, length: int | None = None) -> MemoryTask:
    """`task` as `runs` ran it: at `length` (None: the shortest length its rows ran), with the
    options (`task_options`) of its first row of that length, else of any length; with the
    task's default options where no row states any (frames of hand-built rows, records read
    without the column). What a figure draws from a task (its baseline, where the loss reads
    the state) then matches the runs, whatever their vocabulary or number of pairs."""
    rows = runs[runs["task"] == task] if "task" in runs else runs.iloc[0:0]
    if length is not None and (rows["seq_len"] == length).any():
        rows = rows[rows["seq_len"] == length]
    if length is None:
        known = rows["seq_len"].dropna() if "seq_len" in rows else []
        length = int(min(known)) if len(known) else TASKS[task].min_seq_len
    stated = [text for text in rows.get("task_options", []) if isinstance(text, str)]
    return make_task(task, int(length), **(json.loads(stated[0]) if stated else {}))


def metric_spec(task: str, runs: pd.DataFrame) -> MetricSpec:
    """The spec of `task`'s solved metric, as its task class states it, with the memoryless
    value of the task as `runs` ran it (`recorded_task`); a task unknown to the registry
    (`rnnmem.tasks.TASKS`) is read by its test loss."""
    kind = TASKS.get(task)
    if kind is None:
        return MetricSpec("test_loss", "test loss", math.nan, "", math.nan, False, True)
    example = recorded_task(runs, task)
    return MetricSpec(example.metric_column, example.metric_label, example.metric_baseline,
                      example.metric_baseline_label, example.solved_threshold,
                      example.higher_is_better, example.metric_log_scale)


def task_text(task: str, attribute: str, default: str) -> str:
    """A label that `task`'s class states (`length_label`, `loss_label`), or `default`."""
    kind = TASKS.get(task)
    return str(getattr(kind, attribute, default)) if kind is not None else default


def ordered_cells(cells: Iterable[object]) -> list[str]:
    """The cells present, in the registry's order (RNN, LSTM, GRU, ...), then any other by name."""
    present = {c for c in cells if isinstance(c, str)}
    known = [c for c in CELL_ORDER if c in present]
    return known + sorted(present - set(known))


def cell_label(cell: str) -> str:
    return CELL_LABELS.get(cell, cell)


def param_counts(runs: pd.DataFrame, cell: str | None = None) -> str:
    """The parameter counts (`n_params`) of `runs` (of one `cell`), '4.6K' or a range
    '4.6K-5.9K'; '' where the records predate the count."""
    rows = runs if cell is None else runs[runs["cell"] == cell]
    counts = rows["n_params"].dropna() if "n_params" in rows else pd.Series(dtype=float)
    if counts.empty:
        return ""
    low, high = (f"{value / 1e3:.3g}K" for value in (counts.min(), counts.max()))
    return low if low == high else f"{low}-{high}"


def tasks_of(runs: pd.DataFrame) -> list[str]:
    """The tasks of the rows, by name."""
    return sorted({t for t in runs["task"] if isinstance(t, str)})


def not_failed(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows whose status is not `failed`: a failed run's values (a depth of 0, a length its
    task refuses) never choose what a figure shows; the figures name it among the runs not
    shown. Frames without a status (curves of finished runs) are returned whole."""
    return runs[runs["status"] != "failed"] if "status" in runs else runs


def variants(runs: pd.DataFrame) -> list[tuple[int, bool]]:
    """The (depth, bidirectional) pairs of the grid's runs that did not fail, shallowest and
    unidirectional first."""
    known = not_failed(runs).dropna(subset=["depth", "bidirectional"])
    pairs = zip(known["depth"], known["bidirectional"], strict=True)
    return sorted({(int(depth), bool(bidirectional)) for depth, bidirectional in pairs})


def headline_variant(runs: pd.DataFrame) -> tuple[int, bool]:
    """The (depth, bidirectional) that the single-variant figures show: the grid's shallowest
    unidirectional networks, or (1, False) when no run has a known configuration."""
    return (variants(runs) or [(1, False)])[0]


def variant_label(depth: int, bidirectional: bool) -> str:
    layers = f"{depth} layer" + ("s" if depth > 1 else "")
    return f"{layers}, {'bidirectional' if bidirectional else 'unidirectional'}"


def variant_slug(depth: int, bidirectional: bool) -> str:
    return f"d{depth}_{direction_label(bidirectional)}"


def longest_lengths(runs: pd.DataFrame) -> dict[str, int]:
    """Each task's longest length T in the grid (recorded or missing, not failed)."""
    known = not_failed(runs).dropna(subset=["task", "seq_len"])
    return {task: int(group["seq_len"].max()) for task, group in known.groupby("task", sort=True)}


def select(runs: pd.DataFrame, **axes: object) -> pd.DataFrame:
    """The rows whose axes equal the given values."""
    mask = np.ones(len(runs), dtype=bool)
    for axis, value in axes.items():
        mask = mask & (runs[axis] == value).fillna(False).to_numpy(dtype=bool)
    return runs[mask]


def gaps_for(
    runs: pd.DataFrame, lengths: Mapping[str, int] | None = None, **axes: object
) -> pd.DataFrame:
    """The failed, diverged and missing rows at the given axis values (and, with `lengths`,
    at each task's length T there), including those whose value of such an axis is unknown:
    they might belong here."""
    mask = runs["status"].isin(GAP_STATUSES).to_numpy(dtype=bool)
    for axis, value in axes.items():
        mask = mask & ((runs[axis] == value).fillna(False) | runs[axis].isna()).to_numpy(dtype=bool)
    if lengths is not None:
        points = set(lengths.items())
        pairs = zip(runs["task"], runs["seq_len"], strict=True)
        mask = mask & np.array([not isinstance(task, str) or pd.isna(length)
                                or (task, int(length)) in points for task, length in pairs],
                               dtype=bool)
    return runs[mask]


def finished(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "finished"]


def solved_by_majority(runs: pd.DataFrame) -> bool:
    """Whether more than half of the completed (finished or diverged) runs solved the task."""
    done = runs[runs["status"].isin(("finished", "diverged"))]
    return bool(len(done)) and int(done["solved"].astype(bool).sum()) * 2 > len(done)


def run_names(runs: pd.DataFrame, with_error: bool = False) -> list[str]:
    """Sorted run labels (`task/name`), failed ones with the start of their error if asked."""
    names = []
    for run, error in zip(runs["run"], runs["error"], strict=True):
        text = str(run)
        if with_error and isinstance(error, str) and error:
            text += f" [{_shorten(error, 48)}]"
        names.append(text)
    return sorted(names)


def note_lines(title: str, names: Sequence[str], width: int = 110) -> list[str]:
    """`title (n): a, b, c` wrapped to `width` characters; [] without names."""
    if not names:
        return []
    text = f"{title} ({len(names)}): " + ", ".join(names)
    return textwrap.wrap(text, width, subsequent_indent="    ", break_on_hyphens=False)


def gap_notes(runs: pd.DataFrame, width: int = 110) -> list[str]:
    """Lines naming the failed, diverged and missing runs among `runs`, by status."""
    lines: list[str] = []
    for status in GAP_STATUSES:
        rows = runs[runs["status"] == status]
        title = "not shown, missing (no record)" if status == "missing" else f"not shown, {status}"
        lines += note_lines(title, run_names(rows, with_error=status == "failed"), width)
    return lines


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def distance_curves(arrays: Mapping[str, np.ndarray], task: MemoryTask) -> pd.DataFrame:
    """g by distance from the loss, bottom layer, every direction, at the first probe (stage
    'init') and the last ('trained'): columns stage, step, direction, distance, g."""
    h_norm, steps = arrays["h_norm"], arrays["steps"]  # (P, L, D, T), (P,)
    frames = []
    for stage, index in (("init", 0), ("trained", len(steps) - 1)):
        for k in range(h_norm.shape[2]):
            g = by_distance(h_norm[index, 0, k], task, DIRECTIONS[k])
            frames.append(pd.DataFrame({
                "stage": stage, "step": int(steps[index]), "direction": DIRECTIONS[k],
                "distance": np.arange(len(g)), "g": g,
            }))
    return pd.concat(frames, ignore_index=True)


def sensitivity_curves(arrays: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The input sensitivity s_t = ||dL/dx_t|| per timestep at the first probe (stage 'init')
    and the last ('trained'): columns stage, step, t, s (empty for a probe without `x_norm`)."""
    columns = ["stage", "step", "t", "s"]
    if "x_norm" not in arrays:
        return pd.DataFrame(columns=columns)
    norms, steps = arrays["x_norm"], arrays["steps"]  # (P, T), (P,)
    frames = [pd.DataFrame({"stage": stage, "step": int(steps[index]),
                            "t": np.arange(norms.shape[1]), "s": norms[index]})
              for stage, index in (("init", 0), ("trained", len(steps) - 1))]
    return pd.concat(frames, ignore_index=True)[columns]


def gate_curves(arrays: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Mean gate activation per timestep, bottom layer, forward direction, at the first and the
    last probe: columns stage, step, gate, t, value (empty for a cell without gates)."""
    columns = ["stage", "step", "gate", "t", "value"]
    if "gate_mean" not in arrays:
        return pd.DataFrame(columns=columns)
    means, steps = arrays["gate_mean"], arrays["steps"]  # (P, L, D, G, T), (P,)
    frames = []
    for stage, index in (("init", 0), ("trained", len(steps) - 1)):
        for g, gate in enumerate(arrays["gate_names"]):
            values = means[index, 0, 0, g]
            frames.append(pd.DataFrame({
                "stage": stage, "step": int(steps[index]), "gate": str(gate),
                "t": np.arange(len(values)), "value": values,
            }))
    return pd.concat(frames, ignore_index=True)[columns]


def loss_curves(curves: Mapping[str, Sequence[Mapping[str, float]]]) -> pd.DataFrame:
    """A record's learning curves as one table: columns split ('train', 'val'), step, loss."""
    frames = [
        pd.DataFrame({"split": split, "step": [int(p["step"]) for p in points],
                      "loss": [float(p[key]) for p in points]})
        for split, key in (("train", "train_loss"), ("val", "val_loss"))
        if (points := [p for p in curves.get(split, []) if key in p])
    ]
    if not frames:
        return pd.DataFrame(columns=["split", "step", "loss"])
    return pd.concat(frames, ignore_index=True)


def log_band(frame: pd.DataFrame, x: str, y: str) -> tuple[np.ndarray, ...]:
    """Per x: 10**mean(log10 y), 10**(mean -+ std), count of the y > 0 and finite; NaN (a gap
    in the line) where there is none, e.g. an exactly vanished gradient."""
    values = frame[y].to_numpy(dtype=float)
    ok = np.isfinite(values) & (values > 0)
    logs = pd.Series(np.where(ok, np.log10(np.where(ok, values, 1.0)), np.nan))
    stats = logs.groupby(frame[x].to_numpy(), sort=True)
    mean, std, count = stats.mean(), stats.std(ddof=0).fillna(0.0), stats.count()
    return (mean.index.to_numpy(dtype=float), 10 ** mean.to_numpy(), 10 ** (mean - std).to_numpy(),
            10 ** (mean + std).to_numpy(), count.to_numpy())


def range_band(frame: pd.DataFrame, x: str, y: str) -> tuple[np.ndarray, ...]:
    """Per x: mean, min and max of the finite y, seed count."""
    ok = frame[np.isfinite(frame[y].to_numpy(dtype=float))]
    stats = ok.groupby(x, sort=True)[y].agg(["mean", "min", "max", "count"])
    return (stats.index.to_numpy(dtype=float), stats["mean"].to_numpy(dtype=float),
            stats["min"].to_numpy(dtype=float), stats["max"].to_numpy(dtype=float),
            stats["count"].to_numpy())


def star(rows: pd.DataFrame) -> str:
    """'*' when some of the rows did not finish."""
    return "*" if (rows["status"] != "finished").any() else ""


def why_empty(rows: pd.DataFrame) -> str:
    """What became of a grid point without a finished run: its runs' statuses, or 'no run'."""
    statuses = sorted(set(rows["status"].dropna()) - {"finished"})
    return ", ".join(statuses) if statuses else "no run"


CONFIG_AXES = ("task", "cell", "depth", "bidirectional")  # a configuration, pooled over T
FORGETTING_COLUMNS = [*CONFIG_AXES, "seq_len", "seed", "task_options", "lag", "value", "count"]


def run_axes(run: Any) -> dict[str, object]:
    """A finished run's grid axes (a row of `finished(runs).itertuples()`), typed, to tag the
    per-lag rows read from its record."""
    return {"task": run.task, "cell": run.cell, "depth": int(run.depth),
            "bidirectional": bool(run.bidirectional), "seq_len": int(run.seq_len),
            "seed": int(run.seed), "task_options": getattr(run, "task_options", None)}


def forgetting_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """The held-out forgetting curve per lag of every finished run that has one (records
    from before forgetting curves have none): columns FORGETTING_COLUMNS."""
    frames = []
    for run in finished(runs).itertuples():
        curve = (read_record(Path(run.run_dir)).get("forgetting") or {}).get("curve")
        if not curve:
            continue
        per_lag = pool(pd.DataFrame(curve))
        frames.append(per_lag.assign(**run_axes(run)))
    if not frames:
        return pd.DataFrame(columns=FORGETTING_COLUMNS)
    return pd.concat(frames, ignore_index=True)[FORGETTING_COLUMNS]


ITEM_COLUMNS = [*CONFIG_AXES, "seq_len", "seed", "lag", "gradient", "intervention"]


def item_memory_points(runs: pd.DataFrame) -> pd.DataFrame:
    """Per finished run and lag, the item memory (`rnnmem.item_memory`) of both views after
    training: the gradient view at the last probe, the intervention view at the end; only lags
    both views measured. Columns ITEM_COLUMNS."""
    frames = []
    for run in finished(runs).itertuples():
        items = load_item_memory(run.run_dir)
        views = []
        for view in ("gradient", "intervention"):
            mine = items[items["view"] == view]
            if mine.empty:
                break
            last = mine[mine["step"] == mine["step"].max()]
            views.append(last.set_index("lag")["memory"].rename(view))
        if len(views) < 2:
            continue
        both = pd.concat(views, axis=1, join="inner").reset_index()
        frames.append(both.assign(**run_axes(run)))
    if not frames:
        return pd.DataFrame(columns=ITEM_COLUMNS)
    return pd.concat(frames, ignore_index=True)[ITEM_COLUMNS]


def pearson(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Pearson's correlation of the finite pairs; NaN for fewer than three or a constant side."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or x[ok].std() == 0 or y[ok].std() == 0:
        return math.nan
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


def pooled_span(task: str, seeds: pd.DataFrame) -> int:
    """The memory span (`rnnmem.forgetting.memory_span`) of the mean over seeds of the curves
    of one T (columns lag, value, and task, seq_len, task_options): the lag up to which the
    configuration stays solved."""
    lags, mean, *_ = range_band(seeds, "lag", "value")
    return memory_span(lags.astype(int), mean, recorded_task(seeds, task))


def memory_headline(runs: pd.DataFrame) -> tuple[str, str]:
    """The memory headline the records carry: the intervention view's item-memory span
    (`rnnmem.item_memory`, absolute: the largest lag recalled at over half of perfect) where
    the runs have it; else, for records that predate it, ('memory_coverage', label) or
    ('memory_horizon', label)."""
    if "intervention_span" in runs and runs["intervention_span"].notna().any():
        return "intervention_span", "item-memory span (steps)"
    if "memory_coverage" in runs and runs["memory_coverage"].notna().any():
        return "memory_coverage", "memory coverage"
    return "memory_horizon", "memory horizon (steps)"


def _multirun(sweep_dir: Path) -> DictConfig | None:
    """The sweep's `multirun.yaml` (None, with a warning if it cannot be read)."""
    path = SweepDir(sweep_dir).multirun
    if not path.exists():
        return None
    try:
        return OmegaConf.load(path)
    except (OSError, ValueError, OmegaConfBaseException) as err:
        print(f"rnnmem.analysis: warning: ignoring {path}: {err}", file=sys.stderr)
        return None


def job_settings(job: Sequence[str]) -> dict[str, object]:
    """The config values that one job's overrides set, by config key, typed as Hydra types
    them; a group choice counts as the key it selects (`task=copy` is task.name = copy,
    `model=gru` model.cell = gru). Hydra's own keys, presets and other groups, which set no
    single key, are left out."""
    settings: dict[str, object] = {}
    for override in OverridesParser.create().parse_overrides(list(job)):
        key = override.key_or_group
        if override.is_delete() or key.startswith("hydra") or "/" in key:
            continue
        if "." not in key and key in GROUP_KEYS:
            key = GROUP_KEYS[key]
        elif "." not in key and key not in TOP_LEVEL_KEYS:
            continue
        settings[key] = override.value()
    return settings


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
        print(f"rnnmem.analysis: warning: cannot rebuild the grid: {err}", file=sys.stderr)
        return None
    base = {axis: OmegaConf.select(config, key) for key, axis in AXIS_KEYS.items()}
    settings = [job_settings(job) for job in jobs]
    extra = extra_axes(settings)
    rows = []
    for job, chosen in zip(jobs, settings, strict=True):
        point: dict[str, object] = dict(base)
        groups = dict(item.lstrip("+~").split("=", 1) for item in job if "=" in item)
        if "task" in groups and groups["task"] != base["task"]:
            point["seq_len"] = _group_default(config, "task", groups["task"], "seq_len",
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


def sweep_preset(sweep_dir: Path) -> tuple[str | None, list[str]]:
    """The experiment preset (`+experiment=NAME`) of a sweep and its swept arguments, as Hydra
    applied them (a later value of a key replaces an earlier one)."""
    config = _multirun(sweep_dir)
    if config is None:
        return None, []
    effective: dict[str, str] = {}
    for argument in sweep_arguments(config):
        effective[argument.lstrip("+~").split("=", 1)[0]] = argument  # the last one wins
    preset = effective.get("experiment", "").partition("=")[2] or None
    return preset, [a for a in effective.values() if "," in a]


def expected_total(sweep_dir: Path) -> int | None:
    """The job count that `rnnmem.sweep` wrote to `sweep.json`, if any."""
    try:
        return int(json.loads(SweepDir(sweep_dir).state.read_text())["total"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
