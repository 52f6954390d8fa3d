"""The run directory and the sweep directory: the one place that names the files they hold.

A run directory (`hydra.run.dir`, or `<sweep dir>/<task>/<name>-<hash>` in a sweep) holds

    record.json         the run record (`rnnmem.rundir.record`), written last: present means
                        complete
    probe.npz           the gradient probe's per-timestep arrays
    checkpoint.ckpt     what a preempted run resumes from (`rnnmem.training.preemption` writes
                        it, `rnnmem.rundir.checkpoint` reads it)
    checkpoint.corrupt  a checkpoint that could not be read, set aside
    .lock               held by the process training the run (`rnnmem.rundir.lock`)
    .place_id           the directory's random id, the W&B run id's salt (`rnnmem.rundir.identity`)
    error.log           the traceback of a run that failed
    wandb/              W&B's files, where `logger.save_dir` is not set

and a sweep directory (`hydra.sweep.dir`) holds its run directories and

    multirun.yaml       Hydra's record of the sweep: its config and overrides (`rnnmem.grid`)
    sweep.json          the planned total and run directories (`rnnmem.sweeps.monitor`)
    summary.md/.csv     the summary table, written when the sweep ends
    .place_id           as above: every W&B run id of the sweep is salted with it
    wandb/              the offline W&B runs of all its jobs
    figures/            what `make figures` draws from it (`experiments/make_figures.py`)
    lr_search.yaml      a learning-rate search's outcome, its studies in optuna.db; beside it
                        the lr window, lr_search.md (tables) and lr_search.png/.pdf (figure)
    .lr_search/         the search's locks: one for the storage, one per trial being run

Paths only: nothing here reads or writes a file. Readers and writers of each file are the
modules named above; `wandb/` is W&B's own (its `dir`, `rnnmem.training.build.build_logger`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PLACE_FILE = ".place_id"  # written and read by `rnnmem.rundir.identity.place_id`, in either kind


@dataclass(frozen=True)
class RunDir:
    """The files of one run's directory (module docstring)."""

    path: Path

    RECORD = "record.json"
    CHECKPOINT = "checkpoint.ckpt"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def record(self) -> Path:
        return self.path / self.RECORD

    @property
    def probe(self) -> Path:
        return self.path / "probe.npz"

    @property
    def checkpoint(self) -> Path:
        return self.path / self.CHECKPOINT

    @property
    def corrupt_checkpoint(self) -> Path:
        return self.checkpoint.with_suffix(".corrupt")

    @property
    def lock(self) -> Path:
        return self.path / ".lock"

    @property
    def error_log(self) -> Path:
        return self.path / "error.log"


@dataclass(frozen=True)
class SweepDir:
    """The files of one sweep's directory (module docstring)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def run(self, rel_dir: str | Path) -> RunDir:
        """The run directory `rel_dir` (`<task>/<name>-<hash>`) of this sweep."""
        return RunDir(self.path / rel_dir)

    def run_dirs(self) -> list[Path]:
        """Every directory under the sweep that holds a run record, sorted."""
        return sorted(path.parent for path in self.path.rglob(RunDir.RECORD))

    @property
    def multirun(self) -> Path:
        return self.path / "multirun.yaml"

    @property
    def state(self) -> Path:
        return self.path / "sweep.json"

    @property
    def summary_md(self) -> Path:
        return self.path / "summary.md"

    @property
    def summary_csv(self) -> Path:
        return self.path / "summary.csv"

    @property
    def figures(self) -> Path:
        return self.path / "figures"

    @property
    def lr_search(self) -> Path:
        return self.path / "lr_search.yaml"

    @property
    def lr_window_table(self) -> Path:
        return self.path / "lr_search.md"

    @property
    def lr_window_figure(self) -> Path:
        """The stem of the lr window's figure files (`.png`, `.pdf`)."""
        return self.path / "lr_search"

    @property
    def optuna_storage(self) -> Path:
        return self.path / "optuna.db"

    @property
    def lr_search_locks(self) -> Path:
        return self.path / ".lr_search"
