"""Lightning callbacks of a run: the gradient probe's schedule, the training clock and the
learning curves."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor

from rnnmem.measures import item_memory
from rnnmem.measures.probe import (
    DIRECTIONS,
    SUMMARIES,
    ProbeResult,
    memory_coverage,
    probe,
    sensitivity_scale,
    summarise_all,
)
from rnnmem.tasks import MemoryTask
from rnnmem.training.schedule import Schedule

# the probe's scalar summaries, one value per probe: input sensitivity's coverage and scale,
# and the probe view of item memory (gradient or probability, `rnnmem.measures.item_memory`)
ITEM_SCALARS = tuple(f"item_{field}" for field in item_memory.HEADLINE_FIELDS)
SCALARS = ("memory_coverage", "sensitivity_scale", *ITEM_SCALARS)


class GradientProbe(pl.Callback):
    """Probes the weights at step 0 (before any update), every `every_n_steps` and at the end.

    Each probe is kept (`results`, with the probe view of item memory per lag on the item set
    `items` where the task states items: `rnnmem.measures.item_memory`), summarised (per layer
    and direction, (L, D) arrays, plus the scalars `memory_coverage`, `sensitivity_scale` and
    the item memory's `item_span`, `item_span_is_bound`, `item_capacity` with its interval and
    `item_capacity_fraction`), and handed to `on_probe(result, summaries)`, which the W&B
    logging uses. The time spent probing is accumulated in `seconds`.
    """

    def __init__(
        self,
        task: MemoryTask,
        x: Tensor,
        y: Tensor,
        every_n_steps: int,
        *,
        threshold: float = 1e-2,
        saturation: float = 0.95,
        on_probe: Callable[[ProbeResult, dict[str, np.ndarray]], None] | None = None,
        chunk_size: int = 32,
        items: Tensor | None = None,
    ) -> None:
        self.task, self.x, self.y = task, x, y
        self.items = items
        self.every_n_steps = every_n_steps
        self.threshold = threshold
        self.saturation = saturation
        self.chunk_size = chunk_size
        self.on_probe = on_probe
        self.results: list[ProbeResult] = []
        self.summaries: list[dict[str, np.ndarray]] = []
        self.seconds = 0.0

    def _probe(self, module: pl.LightningModule, step: int) -> None:
        if self.results and self.results[-1].step == step:
            return
        start = time.perf_counter()
        if self.x.device != module.device:  # once: the probe's inputs then stay on the device
            self.x, self.y = self.x.to(module.device), self.y.to(module.device)
            self.items = self.items.to(module.device) if self.items is not None else None
        result = probe(module.net, self.task, self.x, self.y, step, self.saturation,
                       self.chunk_size)
        summaries: dict[str, np.ndarray] = {
            "memory_coverage": np.array(memory_coverage(result.x_norm, self.task, self.threshold)),
            "sensitivity_scale": np.array(sensitivity_scale(result.x_norm, self.task)),
        }
        if self.items is not None:
            view = item_memory.views_of(self.task)[0]
            head = item_memory.summary(item_memory.probe_view(module.net, self.task, self.items),
                                       self.task)
            result.item_memory, result.item_view = np.array(head["curve"]), view
            summaries.update({f"item_{field}": np.array(head[field])
                              for field in item_memory.HEADLINE_FIELDS})
        summaries.update(summarise_all(result.h_norm, self.task, self.threshold))
        self.results.append(result)
        self.summaries.append(summaries)
        self.seconds += time.perf_counter() - start
        if self.on_probe is not None:
            self.on_probe(result, summaries)

    def on_train_batch_start(
        self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step % self.every_n_steps == 0:
            self._probe(module, trainer.global_step)

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._probe(module, trainer.global_step)

    def finish(self, module: pl.LightningModule, step: int) -> None:
        """The probe at the end of training, where `on_train_end` did not run it: a run resumed
        from a checkpoint of its last step (a signal during the last validation), for which
        Lightning skips the training loop and its hooks. Nothing where it did."""
        self._probe(module, step)

    def state_dict(self) -> dict[str, Any]:
        """The probes so far, for a checkpoint (restored by `load_state_dict` on resume)."""
        return {"results": self.results, "summaries": self.summaries, "seconds": self.seconds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.results, self.summaries = list(state["results"]), list(state["summaries"])
        self.seconds = state["seconds"]

    def arrays(self) -> dict[str, np.ndarray]:
        """All probes stacked: `steps` (P,), `x_norm` (P, T), `h_norm` (P, L, D, T),
        `item_memory` (P, 3, K): memory, stderr, count per lag (gradient view),
        `memory_coverage` (P,), per-layer summaries (P, L, D), ..."""
        if not self.results:
            return {}
        out: dict[str, np.ndarray] = {
            "steps": np.array([r.step for r in self.results], dtype=np.int64),
            "probe_loss": np.array([r.loss for r in self.results]),
            "x_norm": np.stack([r.x_norm for r in self.results]),
            "h_norm": np.stack([r.h_norm for r in self.results]),
        }
        if self.results[0].c_norm is not None:
            out["c_norm"] = np.stack([r.c_norm for r in self.results])
        if self.results[0].item_memory is not None:
            out["item_memory"] = np.stack([r.item_memory for r in self.results])
        if self.results[0].gate_names:
            out["gate_names"] = np.array(self.results[0].gate_names)
            out["gate_mean"] = np.stack([r.gate_mean for r in self.results])
            out["gate_saturated"] = np.stack([r.gate_saturated for r in self.results])
        for name in self.summaries[0]:
            out[name] = np.stack([s[name] for s in self.summaries])
        return out

    def record_section(self) -> dict[str, Any]:
        """The record's `probe` entry: probe steps and seconds, then per probe the scalars
        (memory coverage and its scale, the probe view's item-memory span, bound flag and
        capacity), that view's item memory per lag (`item_memory`, (5, L) per probe, the rows of
        `rnnmem.measures.item_memory.ROWS`) and the bottom layer's forward summaries (the
        headline), and under `layers` every layer and direction's summaries keyed
        `l<k>_<fwd|bwd>`."""
        arrays = self.arrays()
        if not arrays:
            return {}
        depth, directions = arrays["memory_horizon"].shape[1:]
        return {
            "steps": arrays["steps"].tolist(),
            "seconds": self.seconds,
            **{name: arrays[name].tolist() for name in SCALARS if name in arrays},
            **({"item_memory": arrays["item_memory"].tolist(),
                "item_view": item_memory.views_of(self.task)[0]} if "item_memory" in arrays
               else {}),
            **{name: arrays[name][:, 0, 0].tolist() for name in SUMMARIES},
            "layers": {
                f"l{layer}_{DIRECTIONS[k]}": {name: arrays[name][:, layer, k].tolist()
                                               for name in SUMMARIES}
                for layer in range(depth) for k in range(directions)
            },
        }


class TrainingClock(pl.Callback):
    """Seconds spent inside training batches (data, forward, backward, optimiser), excluding
    set-up, validation and the probe; `steps` counts the optimiser steps they made (several per
    batch where `steps_per_batch` > 1) and `steps_per_sec` is the run's training throughput.

    Put it last among the callbacks so that the probe, which runs at batch start, is not timed.
    On CUDA the clock waits for the device's queued work before each reading, so that a batch's
    time is its own and not the previous batch's.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.steps = 0
        self._started = 0.0
        self._step_at_start = 0

    @staticmethod
    def _now(module: pl.LightningModule) -> float:
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)
        return time.perf_counter()

    def on_train_batch_start(
        self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._step_at_start = trainer.global_step
        self._started = self._now(module)

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:
        self.seconds += self._now(module) - self._started
        self.steps += trainer.global_step - self._step_at_start

    def state_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seconds, self.steps = state["seconds"], state["steps"]

    @property
    def steps_per_sec(self) -> float:
        return self.steps / self.seconds if self.seconds else float("nan")


class LearningCurves(pl.Callback):
    """Keeps the training loss when `logging` is due (every `log_every_n_steps` and at the last
    step) and the validation metrics."""

    def __init__(self, logging: Schedule) -> None:
        self.logging = logging
        self.train: list[dict[str, float]] = []
        self.val: list[dict[str, float]] = []

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:
        step = trainer.global_step
        if self.logging.due(step):
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            self.train.append({"step": step, "train_loss": float(loss)})

    def state_dict(self) -> dict[str, Any]:
        return {"train": self.train, "val": self.val}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.train, self.val = list(state["train"]), list(state["val"])

    def on_validation_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row = {"step": trainer.global_step}
        for key, value in trainer.callback_metrics.items():
            if key.startswith("val/"):
                row[f"val_{key[4:]}"] = float(value)
        self.val.append(row)
