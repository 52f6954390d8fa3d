"""LightningModule of one memory-task run: fused recurrent net, task loss, metrics, optimiser.

Training batches are drawn on the training device from a seeded generator, so no data loader
stands between the optimiser and the GPU; the loader Lightning asks for only counts batches.
Nothing in `training_step` waits for the device: the losses are summed on the device (one
in-place add per step; a NaN or inf makes the sum non-finite for good) and the sum is checked
every `log_every_n_steps` steps, when the loss is logged (and synced) anyway.

Steps per batch. One Lightning batch runs `steps_per_batch` = k optimiser steps, each exactly
the k = 1 step (its own fresh sample, forward, backward, clip, update), so that Lightning's cost
per batch (hooks, callbacks, progress tracking: about half a millisecond) is paid once per k
steps. `trainer.global_step` still counts optimiser steps. Every schedule of the run (max_steps,
validation, logging, probe, checkpoints) is a multiple of k (`steps_per_batch`), so each falls on
a batch boundary and sees the same steps as with k = 1; and the trained weights are the same
bits, since the generator draws the same samples in the same order and the same kernels run in
the same order. Checked on the CPU (tests/test_steps_per_batch.py); on CUDA that holds only with
deterministic kernels (`trainer.deterministic=true`, the default), and has not been run on a
GPU yet (benchmarks/gpu_check.sh checks it). The generator is module state: a run resumed at a
batch boundary continues the same sequence, on the device kind it started on.

Evaluation (validation, test and so `solved`) runs in float32 whatever the training precision:
autocast is switched off around it. Held-out sets are moved to the training device once
(`device_batches`), so that no validation re-collates or copies them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.states import TrainerFn
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset

from rnnmem import framework
from rnnmem.models import RecurrentNet, denormals
from rnnmem.models.optimisers import OPTIMISERS
from rnnmem.models.param_groups import RoleSettings, param_groups, role_settings
from rnnmem.rundir.checkpoint import DEVICE_TYPE_KEY
from rnnmem.tasks import MemoryTask


def device_batches(x: Tensor, y: Tensor, device: torch.device, batch_size: int
                   ) -> DataLoader:
    """A held-out set on `device`, in batches of `batch_size`, moved there once: the loader
    yields the stored batches as they are (no collation, no copies)."""
    x, y = x.to(device), y.to(device)
    batches = [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return DataLoader(batches, batch_size=None, shuffle=False)


class StepCounter(IterableDataset):
    """Yields the batch index forever: the batches themselves are sampled on the device."""

    def __iter__(self) -> Iterator[int]:
        step = 0
        while True:
            yield step
            step += 1


# A run has diverged when its training loss is not finite, or exceeds the task's memoryless
# baseline this many times over: an exploding network (an IRNN at too high an lr reaches test
# MSE 1e17 on adding with every number finite). An untrained net is far below it (copy at init,
# ln 10 per step, is 13x its baseline at T = 100 and 1.1e3x at T = 10^4).
EXPLODED_LOSS_FACTOR = 1e6


class MemoryTaskModule(pl.LightningModule):
    """Trains `net` on `task` with batches of `batch_size` fresh sequences per step: sample on
    the device, loss, backward, clip the gradient norm at `grad_clip`, optimiser step;
    `steps_per_batch` such steps per Lightning batch; after the last step Lightning validates
    and logs whatever the intervals (`rnnmem.training.schedule`). The optimiser has one
    parameter group per role (`rnnmem.models.param_groups`) with the lr and weight decay of
    `roles`; by default the cell's own scales of `lr` and no weight decay. It stops the run as
    diverged at the first check (every `check_every_n_steps`, and at the last step) that finds
    a non-finite loss since the start, or a last loss above EXPLODED_LOSS_FACTOR x the task's
    baseline."""

    def __init__(
        self,
        task: MemoryTask,
        net: RecurrentNet,
        batch_size: int,
        seed: int,
        *,
        optimiser: str = "adam",
        lr: float = 1e-3,
        roles: RoleSettings | None = None,
        grad_clip: float | None = 1.0,
        check_every_n_steps: int = 50,
        steps_per_batch: int = 1,
        flush_denormal: bool = False,
    ) -> None:
        super().__init__()
        # The step below is the plain PyTorch loop; Lightning's automatic optimisation would
        # wrap it in a closure and a dozen hooks, which costs more than a small RNN's step.
        self.automatic_optimization = False
        self.grad_clip = grad_clip
        self.task = task
        self.net = net
        self.batch_size = batch_size
        self.seed = seed
        self.optimiser = optimiser
        self.lr = lr
        self.roles = roles if roles is not None else role_settings(net.cell, lr)
        self.check_every_n_steps = check_every_n_steps
        self.steps_per_batch = steps_per_batch
        self.flush_denormal = flush_denormal
        self.generator: torch.Generator | None = None
        self._generator_state: Tensor | None = None  # from a checkpoint, until fit starts
        self.diverged = False
        # in the state dict, so that a resumed run still sees a NaN from before the checkpoint
        self.register_buffer("_loss_sum", torch.zeros(()))
        self._last_loss: Tensor | None = None  # the last step's, for the explosion check

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(StepCounter(), batch_size=None)

    def on_fit_start(self) -> None:
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        if self._generator_state is not None:
            self.generator.set_state(self._generator_state)
            self._generator_state = None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """The batch generator's state: a run resumed from a checkpoint (taken at a batch end)
        draws the very samples the uninterrupted run would have drawn."""
        checkpoint["rnnmem_generator_state"] = self.generator.get_state()
        checkpoint[DEVICE_TYPE_KEY] = self.device.type  # resumed only on this kind

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._generator_state = checkpoint.get("rnnmem_generator_state")

    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        # The torch optimiser itself, and backward and clipping as `manual_backward`,
        # `clip_gradients` and Lightning's optimiser step reduce to without loss scaling (none
        # under 32-true or bf16-mixed), less their hook dispatch: no callback here uses those
        # hooks, and at about 0.25 ms per step they cost more than a small RNN's backward pass.
        optimiser = self.optimizers().optimizer
        progress = framework.step_progress(self.trainer)
        with denormals.training(self.flush_denormal):  # the steps only: never a measurement
            for _ in range(self.steps_per_batch):
                x, y = self.task.sample(self.batch_size, self.generator)
                loss = self.task.loss(self.net(x), y)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                if self.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(self.parameters(), self.grad_clip)
                optimiser.step()
                # what Lightning's optimiser wrapper records around a step: global_step counts
                progress.increment_ready()
                progress.increment_completed()
                self._loss_sum += loss.detach()
        self._last_loss = loss.detach()
        step = self.trainer.global_step
        last = step == self.trainer.max_steps
        if last:  # Lightning validates and logs at this batch's end too (`training.schedule`)
            framework.end_with_validation(self.trainer)
        if step % self.check_every_n_steps == 0 or last:
            # Lightning hands logged values to the loggers only every log_every_n_steps, and
            # `self.log` costs about a millisecond: log (and look for divergence) just then.
            self.log_dict({"train/loss": loss, "step": self._logged_step()},
                          batch_size=self.batch_size)
            if self._saw_divergence():
                self.diverged = True
                self.trainer.should_stop = True
        return loss  # the loss of the batch's last step, the step global_step now counts

    def _logged_step(self) -> float:
        """The step metrics are logged at (Lightning takes a logged `step` as the x-axis): the
        0-based index of the last optimiser step during fit, the number of steps after it, as
        Lightning itself logs them with one step per batch."""
        fitting = self.trainer.state.fn == TrainerFn.FITTING
        return float(self.trainer.global_step - (1 if fitting else 0))

    def _saw_divergence(self) -> bool:
        exploded = (self._last_loss is not None
                    and float(self._last_loss) > EXPLODED_LOSS_FACTOR * self.task.baseline)
        return exploded or not bool(torch.isfinite(self._loss_sum))

    def on_train_end(self) -> None:
        if self._saw_divergence():
            self.diverged = True

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str) -> None:
        """Held-out metrics of the float32 network, whatever autocast and subnormal flushing
        training used."""
        x, y = batch
        with torch.autocast(self.device.type, enabled=False), denormals.exact():
            metrics = self.task.metrics(self(x.float()), y)
        for name, value in metrics.items():
            self.log(f"{stage}/{name}", value, batch_size=len(x), on_step=False, on_epoch=True)
        self.log("step", self._logged_step(), batch_size=len(x), on_step=False, on_epoch=True)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return OPTIMISERS[self.optimiser](param_groups(self.net, self.roles), lr=self.lr)


def metrics_of(callback_metrics: Mapping[str, Tensor], stage: str) -> dict[str, float]:
    """`{stage}/name` entries of Lightning's logged metrics as `{stage}_name` floats."""
    prefix = f"{stage}/"
    return {
        f"{stage}_{key[len(prefix):]}": float(value)
        for key, value in sorted(callback_metrics.items())
        if key.startswith(prefix)
    }
