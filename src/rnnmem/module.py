"""LightningModule of one memory-task run: fused recurrent net, task loss, metrics, optimiser.

Training batches are drawn on the training device from a seeded generator, so no data loader
stands between the optimiser and the GPU; the loader Lightning asks for only counts steps.
Nothing in `training_step` waits for the device: a non-finite loss is noted on the device and
checked every `log_every_n_steps` steps, when the loss is logged (and synced) anyway.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset

from rnnmem.models import RecurrentNet
from rnnmem.tasks import MemoryTask

OPTIMISERS = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}


class StepCounter(IterableDataset):
    """Yields the step index forever: the batches themselves are sampled on the device."""

    def __iter__(self) -> Iterator[int]:
        step = 0
        while True:
            yield step
            step += 1


class MemoryTaskModule(pl.LightningModule):
    """Trains `net` on `task` with batches of `batch_size` fresh sequences per step: sample on
    the device, loss, backward, clip the gradient norm at `grad_clip`, optimiser step."""

    def __init__(
        self,
        task: MemoryTask,
        net: RecurrentNet,
        batch_size: int,
        seed: int,
        optimiser: str = "adam",
        lr: float = 1e-3,
        grad_clip: float | None = 1.0,
        check_every_n_steps: int = 50,
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
        self.check_every_n_steps = check_every_n_steps
        self.generator: torch.Generator | None = None
        self._generator_state: Tensor | None = None  # from a checkpoint, set at fit start
        self.diverged = False
        self.register_buffer("_nonfinite", torch.zeros((), dtype=torch.bool), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(StepCounter(), batch_size=None)

    def on_fit_start(self) -> None:
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        if self._generator_state is not None:
            self.generator.set_state(self._generator_state)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """The batch generator's state after the last step: a resumed run draws the batches
        the uninterrupted run would have drawn."""
        checkpoint["batch_generator"] = self.generator.get_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._generator_state = checkpoint["batch_generator"]

    def training_step(self, step: Tensor, batch_idx: int) -> Tensor:
        optimiser = self.optimizers()
        x, y = self.task.sample(self.batch_size, self.generator)
        loss = self.task.loss(self(x), y)
        optimiser.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.grad_clip is not None:
            self.clip_gradients(optimiser, self.grad_clip, gradient_clip_algorithm="norm")
        optimiser.step()
        self._nonfinite |= ~torch.isfinite(loss.detach())
        if (batch_idx + 1) % self.check_every_n_steps == 0:
            # Lightning hands logged values to the loggers only every log_every_n_steps, and
            # `self.log` costs about a millisecond: log (and look for divergence) just then.
            self.log("train/loss", loss, batch_size=self.batch_size)
            if bool(self._nonfinite):
                self.diverged = True
                self.trainer.should_stop = True
        return loss

    def on_train_end(self) -> None:
        if bool(self._nonfinite):
            self.diverged = True

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str) -> None:
        x, y = batch
        metrics = self.task.metrics(self(x), y)
        for name, value in metrics.items():
            self.log(f"{stage}/{name}", value, batch_size=len(x), on_step=False, on_epoch=True)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return OPTIMISERS[self.optimiser](self.parameters(), lr=self.lr)


def metrics_of(callback_metrics: Mapping[str, Tensor], stage: str) -> dict[str, float]:
    """`{stage}/name` entries of Lightning's logged metrics as `{stage}_name` floats."""
    prefix = f"{stage}/"
    return {
        f"{stage}_{key[len(prefix):]}": float(value)
        for key, value in sorted(callback_metrics.items())
        if key.startswith(prefix)
    }
