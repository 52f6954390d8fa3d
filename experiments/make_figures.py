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

No figure pools runs that differ in anything but their seed: the rows carry a column for every
key in which the records differ (`rnnmem.reporting.differences`: swept keys, keys of records
left by another command in the same directory, and the code's source digest where it differs),
each figure is drawn once per combination of their values (`slices`, a subfolder each), and
`report.md` says what differed and how it grouped. A run whose probe arrays cannot be read back
is skipped with one line and listed as damaged (a resumed sweep trains it again); a run being
trained now (its lock held) is listed as running.

Everything is drawn into a temporary folder inside DIR, then moved into DIR file by file
(`os.replace`, stop signals held off meanwhile): an interrupted `make figures` (Ctrl-C,
SIGTERM: one line, exit 128 + signal) leaves every file whole, the previous run's or this
one's, and the temporaries of a killed one are removed at the next start.

Same records in, same bytes out: nothing written depends on clocks, absolute paths or the
order of the file system (every selection is sorted; `rnnmem.reporting.figures.drawing.save`
fixes the metadata).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
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
import fig10_memory_and_state
import table1
from rnnmem.reporting.differences import value_order, value_text
from rnnmem.reporting.expected import sweep_preset, sweep_runs
from rnnmem.reporting.figures.drawing import close
from rnnmem.reporting.gaps import GAP_STATUSES, run_names
from rnnmem.reporting.records import find_runs
from rnnmem.reporting.tables import markdown_table
from rnnmem.rundir.atomic import remove_stale, temporary_dir
from rnnmem.rundir.lock import lock_held
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
    fig10_memory_and_state,
    table1,
)
# Drawn once over every run of the grid (its rows carry the other swept keys as columns).
WHOLE_GRID = (table1,)


class Stopped(Exception):
    """A stop signal (SIGTERM) arrived while the figures were drawn."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def make_figures(sweep_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """Draw every experiment of EXPERIMENTS and write report.md into a temporary folder, then
    move each file into `out_dir` (module docstring); returns the files written."""
    sweep_dir = Path(sweep_dir)
    out_dir = Path(out_dir) if out_dir is not None else SweepDir(sweep_dir).figures
    if not find_runs(sweep_dir):
        raise FileNotFoundError(f"no run records under {sweep_dir}")
    runs = sweep_runs(sweep_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale(out_dir)  # the temporaries of a make_figures that was killed
    staging = temporary_dir(out_dir, "figures")
    try:
        sections = []
        for module in EXPERIMENTS:
            paths: list[Path] = []
            for folder, part in [("", runs)] if module in WHOLE_GRID else slices(runs):
                (staging / folder).mkdir(parents=True, exist_ok=True)
                paths += module.make(part, sweep_dir, staging / folder)
            sections.append((module, paths))
        report = staging / "report.md"
        report.write_text(report_text(runs, sweep_dir, staging, sections, out_dir.name)
                          + not_runs_text(sweep_dir, out_dir))
        written = [path for _, paths in sections for path in paths] + [report]
        publish(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        close("all")
    return [out_dir / path.relative_to(staging) for path in written]


def publish(staging: Path, out_dir: Path) -> None:
    """Move every file of `staging` to the same place under `out_dir`, each by one rename,
    with SIGINT and SIGTERM held off until the last one has moved."""
    files = sorted(path for path in staging.rglob("*") if path.is_file())
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        for path in files:
            target = out_dir / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def slices(runs: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The runs split by every key beyond the usual axes in which they differ
    (`attrs['extra_axes']`: swept keys such as model.hidden_size, keys in which records of one
    grid point differ, the code's `source`), in their sorted order, each with its subfolder
    ('model.hidden_size=16'); one slice, folder '', without such keys. A figure draws one
    slice, so it never pools those values. A slice without a run that recorded more than a
    failure (optim.lr=abc, grid points that left no record) is left to the report."""
    extra = list(runs.attrs.get("extra_axes", []))
    if not extra:
        return [("", runs)]
    parts = []
    for values, part in runs.groupby(extra, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        by_key = dict(zip(extra, values, strict=True))
        if part["status"].isin(["failed", "missing"]).all():
            continue  # nothing recorded to draw: listed in the report
        parts.append((",".join(f"{key}={value_text(value)}" for key, value in by_key.items()),
                      part))
    return parts


def report_text(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path,
                sections: Sequence[tuple[ModuleType, Sequence[Path]]],
                folder: str = "figures") -> str:
    """report.md: where the figures come from and how the runs were grouped, each PNG with
    its caption, Table 1, the gaps. `out_dir` is where the sections' files are now, `folder`
    the name of the one they are published to."""
    name = Path(sweep_dir).resolve().name
    preset, grid = sweep_preset(sweep_dir)
    counts = runs["status"].value_counts()
    tally = ", ".join(f"{int(counts.get(s, 0))} {s}" for s in ("finished", *GAP_STATUSES)
                      if s in ("finished", "failed", "diverged", "missing") or counts.get(s, 0))
    lines = [f"# Figures of sweep `{name}`", ""]
    if preset:
        lines.append(f"Preset: `{preset}` (`make sweep EXPERIMENT={preset}`).")
    else:
        lines.append("Preset: unknown (no `multirun.yaml` in the sweep directory).")
    if grid:
        lines.append("Grid: " + ", ".join(f"`{a}`" for a in grid) + ".")
    lines += [runs_line(runs, tally), *grouping_lines(runs),
              f"Regenerate: `make figures SWEEP=<this sweep>` or `python "
              f"experiments/make_figures.py <this sweep>` (files in `{folder}/`).", ""]
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
        heading = GAP_HEADINGS.get(status, status)
        lines += [f"### {heading[0].upper() + heading[1:]} ({len(rows)})", ""]
        if status in ("failed", "damaged"):
            table = pd.DataFrame({"run": rows["run"].astype(str),
                                  "error": [" ".join(str(e).split()) for e in rows["error"]]})
            lines += [markdown_table(table.sort_values("run", kind="stable")).rstrip(), ""]
        else:
            lines += [f"- {run}" for run in run_names(rows)] + [""]
    return "\n".join(lines).rstrip() + "\n"


GAP_HEADINGS = {
    "missing": "missing, no record",
    "damaged": "damaged: files that cannot be read back (a resumed sweep trains them again)",
    "running": "running now (the run's lock is held)",
}


def runs_line(runs: pd.DataFrame, tally: str) -> str:
    """'Runs: ...': the rows by status, and how many are points of the sweep's last command's
    grid, beside the other records the directory holds."""
    points = runs.attrs.get("grid_points")
    line = f"Runs: {len(runs)} ({tally})"
    if points is None:
        return line + "."
    line += f"; the sweep's last command (`multirun.yaml`) has {points} grid points"
    others = int((~runs["in_grid"].astype(bool)).sum()) if "in_grid" in runs else 0
    if others:
        line += f", and {others} records in the directory are of other configs"
    return line + "."


def grouping_lines(runs: pd.DataFrame) -> list[str]:
    """What the records differ in beyond the figure axes and the seed, and how the figures
    grouped them (`attrs['grouping']`, `rnnmem.reporting.differences`); [] where nothing
    does."""
    grouping = runs.attrs.get("grouping") or []
    if not grouping:
        return []
    parts = []
    for key, why in grouping:
        found = {v for v in runs[key].dropna()} if key in runs else set()
        values = [value_text(v) for v in sorted(found, key=value_order)]
        shown = f": {', '.join(values)}" if why != "swept" or len(values) <= 8 else ""
        parts.append(f"`{key}` ({why}{shown if not why.startswith('records of') else ''})")
    folders = [folder for folder, _ in slices(runs)]
    return ["Grouped by " + ", ".join(parts) + ". Each figure is drawn once per combination "
            "of their values, in its own folder (" + ", ".join(f"`{f}/`" for f in folders)
            + "), and Table 1 has a row per combination: no figure pools runs that differ in "
            "them."]


KNOWN_DIRECTORIES = {
    "wandb": "W&B's offline runs of the sweep",
    ".submitit": "submitit's job files (SLURM launcher)",
    ".hydra": "Hydra's saved config",
    "invalid": "the records of jobs whose values do not compose (listed as failed above)",
    ".lr_search": "the learning-rate search's locks (`rnnmem.sweeps.lr_search`)",
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
            elif lock_held(path):
                found.append((rel, "a job running now (its lock is held): it records when it "
                                   "ends"))
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
    signal.signal(signal.SIGTERM, _stop)
    try:
        paths = make_figures(args.sweep_dir, args.out)
    except (KeyboardInterrupt, Stopped) as err:
        signum = err.signum if isinstance(err, Stopped) else signal.SIGINT
        where = args.out or SweepDir(args.sweep_dir).figures
        print(f"make_figures: stopped by {signal.Signals(signum).name}: no file in {where} is "
              "half-written (each is this run's or the previous one's)", file=sys.stderr)
        return 128 + signum
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


def _stop(signum: int, frame: object) -> None:
    raise Stopped(signum)


if __name__ == "__main__":
    sys.exit(main())
