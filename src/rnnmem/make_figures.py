"""`make figures`: a sweep's paper figures, Table 1 and a report, from its run records only.

    python -m rnnmem.make_figures SWEEP_DIR [--out DIR]      (default DIR: SWEEP_DIR/figures)

`sweep_runs` reads every record under SWEEP_DIR and adds one row, status "missing", for each
point of the sweep's grid that left no record: the grid is the one Hydra ran, rebuilt from
`multirun.yaml` (the sweeper's params and the command-line sweeps, as `rnnmem.sweep` counts
them); without it only `sweep.json`'s job count is known, and the shortfall is listed as
unknown grid points. Each script in experiments/ (EXPERIMENTS, in order) draws its figure or
table from those rows into DIR; `report.md` shows the PNGs and Table 1 together and lists the
failed, diverged and missing runs.

Same records in, same bytes out: nothing written depends on clocks, absolute paths or the
order of the file system (every selection is sorted; `figures.save` fixes the metadata).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pandas as pd
import yaml
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rnnmem.config import direction_label
from rnnmem.figures import GAP_STATUSES, close, run_names
from rnnmem.results import AXES, find_runs, load_sweep
from rnnmem.sweep import SWEEP_FILE, grid_jobs, sweep_arguments
from rnnmem.tables import markdown_table

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS_DIR = ROOT / "experiments"
CONF_DIR = ROOT / "conf"
EXPERIMENTS = (
    "fig1_gradient_vanishing",
    "fig2_memory_capacity",
    "fig3_gradient_flow",
    "fig4_depth_direction",
    "fig5_gate_dynamics",
    "fig6_learning_curves",
    "table1",
)
# Config keys of the grid axes, as Hydra overrides name them.
AXIS_KEYS = {
    "task.name": "task", "task.seq_len": "seq_len", "model.cell": "cell",
    "model.depth": "depth", "model.bidirectional": "bidirectional", "seed": "seed",
}
AXIS_TYPES = {"depth": "Int64", "seq_len": "Int64", "seed": "Int64", "bidirectional": "boolean"}


def run_label(task: object, cell: object, depth: object, bidirectional: object,
              seq_len: object, seed: object) -> str:
    """`task/name` as the sweep's run directory names it (`conf/train.yaml`: name, subdir)."""
    return f"{task}/{cell}-d{depth}-{direction_label(bidirectional)}-T{seq_len}-s{seed}"


def _multirun(sweep_dir: Path) -> DictConfig | None:
    """The sweep's `multirun.yaml` (None, with a warning if it cannot be read)."""
    path = Path(sweep_dir) / "multirun.yaml"
    if not path.exists():
        return None
    try:
        return OmegaConf.load(path)
    except (OSError, ValueError, OmegaConfBaseException) as err:
        print(f"rnnmem.make_figures: warning: ignoring {path}: {err}", file=sys.stderr)
        return None


def expected_grid(sweep_dir: Path) -> pd.DataFrame | None:
    """The grid points Hydra launched for this sweep (one row each, the axes of AXES but
    hidden_size, and `run`), from `multirun.yaml`; None without it."""
    config = _multirun(sweep_dir)
    if config is None:
        return None
    try:
        jobs = grid_jobs(config)
    except HydraException as err:
        print(f"rnnmem.make_figures: warning: cannot rebuild the grid: {err}", file=sys.stderr)
        return None
    base = {axis: OmegaConf.select(config, key) for key, axis in AXIS_KEYS.items()}
    rows = []
    for job in jobs:
        point = dict(base)
        chosen = dict(item.lstrip("+~").split("=", 1) for item in job if "=" in item)
        if "task" in chosen and chosen["task"] != base["task"]:
            point["task"] = chosen["task"]
            point["seq_len"] = _group_default("task", chosen["task"], "seq_len", base["seq_len"])
        if "model" in chosen:
            point["cell"] = chosen["model"]
        for key, axis in AXIS_KEYS.items():
            if key in chosen:
                point[axis] = yaml.safe_load(chosen[key])
        point["run"] = run_label(*(point[axis] for axis in
                                   ("task", "cell", "depth", "bidirectional", "seq_len", "seed")))
        rows.append(point)
    return pd.DataFrame(rows, columns=[*AXIS_KEYS.values(), "run"])


def _group_default(group: str, option: str, key: str, fallback: object) -> object:
    """`key` of conf/<group>/<option>.yaml (what choosing that option sets it to)."""
    path = CONF_DIR / group / f"{option}.yaml"
    if not path.exists():
        return fallback
    return (yaml.safe_load(path.read_text()) or {}).get(key, fallback)


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
        return int(json.loads((Path(sweep_dir) / SWEEP_FILE).read_text())["total"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def sweep_runs(sweep_dir: Path) -> pd.DataFrame:
    """Every recorded run (`load_sweep`) and every grid point without a record (status
    'missing'), with `run` = 'task/name', sorted by the config axes."""
    sweep_dir = Path(sweep_dir)
    runs = load_sweep(sweep_dir)
    runs["run"] = [Path(d).resolve().relative_to(sweep_dir.resolve()).as_posix()
                   for d in runs["run_dir"]]
    grid = expected_grid(sweep_dir)
    recorded_runs = set(runs["run"])
    recorded_axes = {tuple(row) for row in runs[list(AXIS_KEYS.values())].itertuples(index=False)}
    missing: list[dict[str, object]] = []
    if grid is not None:
        for point in grid.to_dict("records"):
            axes = tuple(point[axis] for axis in AXIS_KEYS.values())
            if point["run"] not in recorded_runs and axes not in recorded_axes:
                missing.append({**point, "status": "missing", "solved": False})
    else:
        total = expected_total(sweep_dir) or 0
        missing = [{"run": f"unknown grid point {i + 1}", "status": "missing", "solved": False}
                   for i in range(max(total - len(runs), 0))]
    if missing:
        runs = pd.concat([runs, pd.DataFrame(missing)], ignore_index=True)
    runs = runs.astype({axis: kind for axis, kind in AXIS_TYPES.items()})
    runs = runs.sort_values([*AXES, "run"], kind="stable", na_position="last")
    return runs.reset_index(drop=True)


def load_experiment(name: str) -> ModuleType:
    """The module experiments/<name>.py (each exposes `make(runs, sweep_dir, out_dir)`)."""
    path = EXPERIMENTS_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"rnnmem_experiments.{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load experiment {name!r} from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_figures(sweep_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """Draw every experiment of EXPERIMENTS and write report.md; returns the files written."""
    sweep_dir = Path(sweep_dir)
    out_dir = Path(out_dir) if out_dir is not None else sweep_dir / "figures"
    if not find_runs(sweep_dir):
        raise FileNotFoundError(f"no run records under {sweep_dir}")
    runs = sweep_runs(sweep_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = []
    for name in EXPERIMENTS:
        module = load_experiment(name)
        paths = module.make(runs, sweep_dir, out_dir)
        sections.append((module, paths))
    report = out_dir / "report.md"
    report.write_text(report_text(runs, sweep_dir, out_dir, sections))
    close("all")
    return [path for _, paths in sections for path in paths] + [report]


def report_text(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path,
                sections: Sequence[tuple[ModuleType, Sequence[Path]]]) -> str:
    """report.md: where the figures come from, each PNG with its caption, Table 1, the gaps."""
    name = Path(sweep_dir).resolve().name
    preset, grid = sweep_preset(sweep_dir)
    counts = runs["status"].value_counts()
    tally = ", ".join(f"{int(counts.get(s, 0))} {s}" for s in ("finished", *GAP_STATUSES))
    lines = [f"# Figures of sweep `{name}`", ""]
    if preset:
        lines.append(f"Preset: `{preset}` (`make sweep EXPERIMENT={preset}`).")
    else:
        lines.append("Preset: unknown (no `multirun.yaml` in the sweep directory).")
    if grid:
        lines.append("Grid: " + ", ".join(f"`{a}`" for a in grid) + ".")
    lines += [f"Runs: {len(runs)} grid points: {tally}.",
              f"Regenerate: `make figures SWEEP=<this sweep>` or "
              f"`python -m rnnmem.make_figures <this sweep>` (files in `{out_dir.name}/`).", ""]
    for module, paths in sections:
        title, _, caption = (module.__doc__ or module.__name__).strip().partition("\n")
        lines += [f"## {title.strip()}", "", " ".join(getattr(module, "CAPTION", "").split()), ""]
        for path in paths:
            if path.suffix == ".png":
                lines += [f"![{path.stem}]({path.name})", ""]
            elif path.suffix == ".md":
                lines += [path.read_text().rstrip(), ""]
        others = [p.name for p in paths if p.suffix not in (".png", ".md")]
        if others:
            lines += ["Also: " + ", ".join(f"[{n}]({n})" for n in others) + ".", ""]
    lines += ["## Runs not shown", ""]
    gaps = runs[runs["status"].isin(GAP_STATUSES)]
    if gaps.empty:
        lines += ["None: every grid point finished.", ""]
    for status in GAP_STATUSES:
        rows = gaps[gaps["status"] == status]
        if rows.empty:
            continue
        heading = "missing, no record" if status == "missing" else status
        lines += [f"### {heading.capitalize()} ({len(rows)})", ""]
        if status == "failed":
            table = pd.DataFrame({"run": rows["run"].astype(str),
                                  "error": [" ".join(str(e).split()) for e in rows["error"]]})
            lines += [markdown_table(table.sort_values("run", kind="stable")).rstrip(), ""]
        else:
            lines += [f"- {run}" for run in run_names(rows)] + [""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rnnmem.make_figures",
                                     description="Paper figures and Table 1 of a recorded sweep.")
    parser.add_argument("sweep_dir", nargs="?", type=Path, help="the sweep directory")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default: SWEEP_DIR/figures)")
    args = parser.parse_args(argv)
    if args.sweep_dir is None or not args.sweep_dir.is_dir():
        where = args.sweep_dir or "(none given; `make figures` takes the newest under sweeps/)"
        print(f"rnnmem.make_figures: error: no sweep directory: {where}", file=sys.stderr)
        return 2
    try:
        paths = make_figures(args.sweep_dir, args.out)
    except FileNotFoundError as err:
        print(f"rnnmem.make_figures: error: {err}", file=sys.stderr)
        return 1
    print(f"[figures] {len(paths)} files -> {paths[-1].parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
