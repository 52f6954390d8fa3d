"""What a run sends to Weights & Biases, besides Lightning's metric logging.

Offline unless the user sets WANDB_MODE (the run's files go to `<run_dir>/wandb`, readable with
`wandb leet` and uploadable with `wandb sync`). Per probe: the headline summaries as scalars,
and each per-timestep vector g_t as a `wandb.Histogram` whose bins are the timesteps and whose
heights are g_t, so that W&B draws the training-step x timestep heatmap. At the end: a heatmap
image and a line plot of g_t at the first and last probe.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import wandb
from pytorch_lightning.loggers import WandbLogger

from rnnmem.probe import DIRECTIONS, ProbeResult

MAX_HISTOGRAM_BINS = 512  # W&B's limit on the bins of one histogram


def make_logger(
    run_dir: Path, name: str, project: str, entity: str | None, group: str | None,
    job_type: str, config: Mapping[str, Any],
) -> WandbLogger:
    """A WandbLogger whose run is started now (so that a crash later is recorded too)."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    logger = WandbLogger(
        name=name, project=project, entity=entity, group=group, job_type=job_type,
        save_dir=str(run_dir), config=dict(config), reinit="finish_previous",
    )
    _ = logger.experiment
    return logger


def timestep_histogram(values: np.ndarray) -> wandb.Histogram:
    """g_t as a histogram with one bin per timestep [t, t+1), pooled (mean) to <= 512 bins."""
    values = np.asarray(values, dtype=np.float64)
    bins = min(len(values), MAX_HISTOGRAM_BINS)
    edges = np.linspace(0, len(values), bins + 1)
    groups = np.array_split(values, bins)
    heights = np.array([group.mean() for group in groups])
    return wandb.Histogram(np_histogram=(heights, edges))


def probe_payload(result: ProbeResult, summaries: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Scalars and histograms of one probe, keyed for the W&B UI."""
    payload: dict[str, Any] = {"probe/loss": result.loss}
    for name, table in summaries.items():
        payload[f"probe/{name}"] = float(table[0, 0])
    depth, directions, _ = result.h_norm.shape
    for layer in range(depth):
        for k in range(directions):
            key = f"l{layer}_{DIRECTIONS[k]}"
            if depth > 1 or directions > 1:
                for name, table in summaries.items():
                    payload[f"probe_{key}/{name}"] = float(table[layer, k])
            payload[f"grad_h/{key}"] = timestep_histogram(result.h_norm[layer, k])
            if result.c_norm is not None:
                payload[f"grad_c/{key}"] = timestep_histogram(result.c_norm[layer, k])
            for g, gate in enumerate(result.gate_names):
                payload[f"gates/{key}_{gate}_mean"] = timestep_histogram(
                    result.gate_mean[layer, k, g]
                )
                payload[f"gates/{key}_{gate}_saturated"] = float(
                    result.gate_saturated[layer, k, g].mean()
                )
    return payload


def log_final_figures(logger: WandbLogger, arrays: Mapping[str, np.ndarray], step: int) -> None:
    """The heatmap (probe step x timestep) and first/last-probe g_t lines as W&B images."""
    from rnnmem import figures

    images = {}
    for key, fig in figures.run_gradient_figures(arrays).items():
        images[key] = wandb.Image(fig)
        figures.close(fig)
    logger.experiment.log({**images, "trainer/global_step": step})
