"""The framework internals behind `rnnmem.framework` are where this Lightning and Hydra keep
them: an upgrade that moves one fails here, by name, not silently in a run."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from hydra.core.override_parser.overrides_parser import OverridesParser
from torch.utils.data import DataLoader

from rnnmem import framework


class CountingModule(pl.LightningModule):
    """Manual optimisation that steps the optimiser itself `per_batch` times per batch and
    counts each step through `framework.step_progress`, as rnnmem's training step does."""

    def __init__(self, per_batch: int) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.per_batch = per_batch

    def training_step(self, batch, batch_idx):
        optimiser = self.optimizers().optimizer
        progress = framework.step_progress(self.trainer)
        for _ in range(self.per_batch):
            optimiser.zero_grad()
            (self.weight - 1).pow(2).sum().backward()
            optimiser.step()
            progress.increment_ready()
            progress.increment_completed()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def trainer(**kwargs) -> pl.Trainer:
    return pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", **kwargs)


def test_global_step_counts_the_steps_a_manual_training_step_reports():
    fit = trainer(max_steps=12)
    fit.fit(CountingModule(per_batch=3), DataLoader(range(100), batch_size=1))
    assert fit.global_step == 12
    assert fit.fit_loop.epoch_loop.batch_progress.total.completed == 4  # 12 steps, 3 per batch


class EndingModule(CountingModule):
    """Stops at `max_steps` through `framework.end_with_validation`, as rnnmem's module does,
    and records the steps at which Lightning validated."""

    def __init__(self, per_batch: int) -> None:
        super().__init__(per_batch)
        self.validated_at: list[int] = []

    def training_step(self, batch, batch_idx):
        super().training_step(batch, batch_idx)
        if self.trainer.global_step == self.trainer.max_steps:
            framework.end_with_validation(self.trainer)

    def validation_step(self, batch, batch_idx):
        self.validated_at.append(self.trainer.global_step)


def test_lightning_validates_the_batch_that_ends_the_run_off_its_interval():
    module = EndingModule(per_batch=2)
    fit = trainer(max_steps=14, val_check_interval=3, check_val_every_n_epoch=None,
                  num_sanity_val_steps=0)
    fit.fit(module, DataLoader(range(100), batch_size=1), DataLoader(range(1), batch_size=1))
    assert module.validated_at == [6, 12, 14]  # every 3 batches of 2 steps, and the last


def test_lightning_still_has_the_flag_that_skips_the_off_schedule_validation():
    assert framework.skip_next_validation(trainer(max_steps=1)) is True


def test_hydras_basic_sweeper_and_joblib_core_are_where_the_sweeps_reach_them():
    overrides = OverridesParser.create().parse_overrides(["a=1,2", "b=x,y,z"])
    jobs = framework.BasicSweeper.split_arguments(overrides, None)[0]
    assert len(jobs) == 6 and ["a=1", "b=x"] in jobs
    core = framework.joblib_launcher_core()
    assert callable(core.execute_job) and callable(core.process_joblib_cfg)
