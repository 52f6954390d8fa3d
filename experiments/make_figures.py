"""`make figures`: a sweep's paper figures, Table 1 and a report, from its run records only.

    python experiments/make_figures.py SWEEP_DIR [--out DIR]   (default DIR: SWEEP_DIR/figures)

`rnnmem.reporting.expected.sweep_runs` gives one row per grid point of the sweep (recorded, or
status "missing"). Each experiment module beside this file (EXPERIMENTS, in order) draws its figure
or table from those rows into DIR; `report.md` shows the PNGs and Table 1 together with what each
experiment found, computed from the data (its `.md` files), and lists the failed, diverged,
preempted and missing runs, and every directory of the sweep that is not a run, with the reason. A
failed run never chooses what a figure shows (`rnnmem.reporting.selection.not_failed`). The
experiments use the `rnnmem` package; nothing in the package loads them. Storage that cannot be
written (read-only, full) is one line naming the path and the error.

Same records in, same bytes out: nothing written depends on clocks, absolute paths or the
order of the file system (every selection is sorted; `rnnmem.reporting.figures.drawing.save`
fixes the metadata).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pandas as pd

import fig1_gradient_vanishing
import fig2_memory_capacity
import fig3_gradient_flow
import fig4_depth_direction
import fig5_gate_dynamics
import fig6_learning_curves
import fig7_forgetting
import fig8_gradient_vs_behaviour
import fig9_item_memory_views
import table1
from rnnmem.reporting.expected import sweep_preset, sweep_runs
from rnnmem.reporting.figures.drawing import close
from rnnmem.reporting.gaps import GAP_STATUSES, run_names
from rnnmem.reporting.records import find_runs
from rnnmem.reporting.tables import markdown_table
from rnnmem.rundir.paths import SweepDir

EXPERIMENTS: tuple[ModuleType, ...] = (
    fig1_gradient_vanishing,
    fig2_memory_capacity,
    fig3_gradient_flow,
    fig4_depth_direction,
    fig5_gate_dynamics,
    fig6_learning_curves,
    fig7_forgetting,
    fig8_gradient_vs_behaviour,
    fig9_item_memory_views,
    table1,
)
# Drawn once over every run of the grid (its rows carry the other swept keys as columns).
WHOLE_GRID = (table1,)


def make_figures(sweep_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """Draw every experiment of EXPERIMENTS and write report.md; returns the files written."""
    sweep_dir = Path(sweep_dir)
    out_dir = Path(out_dir) if out_dir is not None else SweepDir(sweep_dir).figures
    if not find_runs(sweep_dir):
        raise FileNotFoundError(f"no run records under {sweep_dir}")
    runs = sweep_runs(sweep_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = []
    for module in EXPERIMENTS:
        paths: list[Path] = []
        for folder, part in [("", runs)] if module in WHOLE_GRID else slices(runs):
            (out_dir / folder).mkdir(parents=True, exist_ok=True)
            paths += module.make(part, sweep_dir, out_dir / folder)
        sections.append((module, paths))
    report = out_dir / "report.md"
    report.write_text(report_text(runs, sweep_dir, out_dir, sections)
                      + not_runs_text(sweep_dir, out_dir))
    close("all")
    return [path for _, paths in sections for path in paths] + [report]


def slices(runs: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The runs split by every swept key beyond the usual axes (`attrs['extra_axes']`, e.g.
    model.hidden_size), each with its subfolder ('model.hidden_size=16'); one slice, folder
    '', without such keys. A figure draws one slice, so it never pools those values."""
    extra = list(runs.attrs.get("extra_axes", []))
    if not extra:
        return [("", runs)]
    parts = []
    for values, part in runs.groupby(extra, sort=True, dropna=False):
        if (part["status"] == "failed").all():
            continue  # a value of failed runs only (optim.lr=abc): listed in the report
        values = values if isinstance(values, tuple) else (values,)
        folder = ",".join(f"{key}={value}" for key, value in zip(extra, values, strict=True))
        parts.append((folder, part))
    return parts


def report_text(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path,
                sections: Sequence[tuple[ModuleType, Sequence[Path]]]) -> str:
    """report.md: where the figures come from, each PNG with its caption, Table 1, the gaps."""
    name = Path(sweep_dir).resolve().name
    preset, grid = sweep_preset(sweep_dir)
    counts = runs["status"].value_counts()
    tally = ", ".join(f"{int(counts.get(s, 0))} {s}" for s in ("finished", *GAP_STATUSES)
                      if s != "preempted" or counts.get(s, 0))
    lines = [f"# Figures of sweep `{name}`", ""]
    if preset:
        lines.append(f"Preset: `{preset}` (`make sweep EXPERIMENT={preset}`).")
    else:
        lines.append("Preset: unknown (no `multirun.yaml` in the sweep directory).")
    if grid:
        lines.append("Grid: " + ", ".join(f"`{a}`" for a in grid) + ".")
    lines += [f"Runs: {len(runs)} grid points: {tally}.",
              f"Regenerate: `make figures SWEEP=<this sweep>` or `python "
              f"experiments/make_figures.py <this sweep>` (files in `{out_dir.name}/`).", ""]
    for module, paths in sections:
        title, _, caption = (module.__doc__ or module.__name__).strip().partition("\n")
        lines += [f"## {title.strip()}", "", " ".join(getattr(module, "CAPTION", "").split()), ""]
        for path in paths:
            where = path.relative_to(out_dir).as_posix()
            if path.suffix == ".png":
                lines += [f"![{where.removesuffix('.png')}]({where})", ""]
            elif path.suffix == ".md":
                if path.parent != out_dir:
                    lines += [f"`{path.parent.name}`:", ""]
                lines += [path.read_text().rstrip(), ""]
        others = [p.relative_to(out_dir).as_posix() for p in paths
                  if p.suffix not in (".png", ".md")]
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


KNOWN_DIRECTORIES = {
    "wandb": "W&B's offline runs of the sweep",
    ".submitit": "submitit's job files (SLURM launcher)",
    ".hydra": "Hydra's saved config",
    "invalid": "the records of jobs whose values do not compose (listed as failed above)",
}


def not_runs(sweep_dir: Path, out_dir: Path) -> list[tuple[str, str]]:
    """(directory relative to the sweep, why it is not shown) for every directory under
    `sweep_dir` that neither is a run (holds `record.json`) nor holds one; their contents are
    not walked."""
    sweep_dir, out_dir = Path(sweep_dir).resolve(), Path(out_dir).resolve()
    found = []
    for top, dirs, files in os.walk(sweep_dir):
        here = Path(top)
        if here != sweep_dir and "record.json" in files:
            dirs[:] = []  # a run: its own files
            continue
        for name in sorted(dirs):
            path = here / name
            has_runs = any(path.rglob("record.json")) if name not in KNOWN_DIRECTORIES else False
            if has_runs and name != "invalid":
                continue
            dirs.remove(name)
            rel = path.relative_to(sweep_dir).as_posix()
            if path == out_dir:
                found.append((rel, "these figures"))
            elif name in KNOWN_DIRECTORIES:
                found.append((rel, KNOWN_DIRECTORIES[name]))
            elif (path / "checkpoint.ckpt").exists():
                found.append((rel, "a checkpoint without a record: a job stopped before it "
                                   "recorded; rerunning the sweep resumes it"))
            elif (path / ".hydra").is_dir():
                found.append((rel, "a job's directory without a record: it did not get to "
                                   "record; rerunning the sweep runs it"))
            else:
                found.append((rel, "no record.json: not a run"))
        dirs.sort()
    return sorted(found)


def not_runs_text(sweep_dir: Path, out_dir: Path) -> str:
    """The report's last section: `not_runs`, one line each."""
    lines = ["", "## Directories that are not runs", ""]
    lines += [f"- `{rel}/`: {why}" for rel, why in not_runs(sweep_dir, out_dir)] or ["None."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python experiments/make_figures.py",
                                     description="Paper figures and Table 1 of a recorded sweep.")
    parser.add_argument("sweep_dir", nargs="?", type=Path, help="the sweep directory")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default: SWEEP_DIR/figures)")
    args = parser.parse_args(argv)
    if args.sweep_dir is None or not args.sweep_dir.is_dir():
        where = args.sweep_dir or "(none given; `make figures` takes the newest under sweeps/)"
        print(f"make_figures: error: no sweep directory: {where}", file=sys.stderr)
        return 2
    try:
        paths = make_figures(args.sweep_dir, args.out)
    except FileNotFoundError as err:
        print(f"make_figures: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # read-only or full storage
        where = err.filename or args.out or SweepDir(args.sweep_dir).figures
        print(f"make_figures: error: cannot write {where}: [Errno {err.errno}] "
              f"{err.strerror or err}", file=sys.stderr)
        return 1
    print(f"[figures] {len(paths)} files -> {paths[-1].parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
