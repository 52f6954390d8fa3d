"""What a run sends to Weights & Biases, besides Lightning's metric logging.

Offline unless the user sets WANDB_MODE (the run's files go to `<run_dir>/wandb`, or for a
sweep to `<sweep_dir>/wandb`, one directory for all its runs, readable with `wandb leet` and
uploadable with `wandb sync`). Per probe: memory coverage and the gradient summaries as
scalars, and each per-timestep vector (the input sensitivity s_t, every g_t) as a
`wandb.Histogram` whose bins are the timesteps and whose heights are the norms, so that W&B
draws the training-step x timestep heatmap. At the end: a heatmap image and a line plot of g_t
at the first and last probe (`rnnmem.run_images`), and the forgetting curve as a table and a
line plot (`forgetting/table`, `forgetting/curve`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import wandb
from pytorch_lightning.loggers import WandbLogger

from rnnmem import run_images
from rnnmem.probe import DIRECTIONS, ProbeResult

MAX_HISTOGRAM_BINS = 512  # W&B's limit on the bins of one histogram


def make_logger(
    save_dir: Path, name: str, project: str, entity: str | None, group: str | None,
    job_type: str, config: Mapping[str, Any],
) -> WandbLogger:
    """A WandbLogger around a W&B run started now (so that a crash later is recorded too); its
    offline files go to `save_dir/wandb/offline-run-*`. The package list is not uploaded: the
    record holds the version and git commit, and scanning the environment costs half a second."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    save_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        name=name, project=project, entity=entity, group=group, job_type=job_type,
        dir=str(save_dir), config=dict(config), reinit="finish_previous",
        settings=wandb.Settings(x_save_requirements=False),
    )
    return WandbLogger(experiment=run)


def timestep_histogram(values: np.ndarray) -> wandb.Histogram:
    """g_t as a histogram with one bin per timestep [t, t+1), pooled (mean) to <= 512 bins."""
    values = np.asarray(values, dtype=np.float64)
    bins = min(len(values), MAX_HISTOGRAM_BINS)
    edges = np.linspace(0, len(values), bins + 1)
    groups = np.array_split(values, bins)
    heights = np.array([group.mean() for group in groups])
    return wandb.Histogram(np_histogram=(heights, edges))


def probe_payload(result: ProbeResult, summaries: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Scalars and histograms of one probe, keyed for the W&B UI: `probe/memory_coverage` and
    the bottom layer's forward summaries under `probe/`, every layer and direction's under
    `probe_l<k>_<fwd|bwd>/` (deep or bidirectional nets), the input sensitivity s_t as
    `grad_x`, g_t as `grad_h/l<k>_<dir>` (`grad_c/` for LSTM cell states)."""
    per_layer = {name: table for name, table in summaries.items() if np.ndim(table) == 2}
    payload: dict[str, Any] = {
        "probe/loss": result.loss,
        "probe/memory_coverage": float(summaries["memory_coverage"]),
        "grad_x": timestep_histogram(result.x_norm),
    }
    for name, table in per_layer.items():
        payload[f"probe/{name}"] = float(table[0, 0])
    depth, directions, _ = result.h_norm.shape
    for layer in range(depth):
        for k in range(directions):
            key = f"l{layer}_{DIRECTIONS[k]}"
            if depth > 1 or directions > 1:
                for name, table in per_layer.items():
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


def forgetting_payload(forgetting: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run's forgetting curve (`rnnmem.forgetting`) as a W&B table and a line plot of the
    held-out metric against lag; {} without one."""
    if not forgetting:
        return {}
    columns = ["position", "lag", "value", "count"]
    table = wandb.Table(columns=columns,
                        data=[[row[c] for c in columns] for row in forgetting["curve"]])
    title = f"held-out {forgetting['metric']} by lag (memory span {forgetting['memory_span']})"
    return {"forgetting/table": table,
            "forgetting/curve": wandb.plot.line(table, "lag", "value", title=title)}


def finish(logger: WandbLogger, record: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
           ) -> None:
    """End the W&B run: the probe's pictures, the record's scalars as the run summary, and
    `finish` with exit code 1 when the run failed."""
    run = logger.experiment
    payload: dict[str, Any] = {}
    if arrays:
        for key, fig in run_images.run_gradient_figures(arrays).items():
            payload[key] = wandb.Image(fig)
            run_images.close(fig)
        payload["trainer/global_step"] = int(arrays["steps"][-1])
    payload.update(forgetting_payload(record.get("forgetting")))
    if payload:
        run.log(payload)
    run.summary.update(
        {k: v for k, v in record.items() if isinstance(v, (int, float, str, bool))}
    )
    run.finish(exit_code=1 if record["status"] == "failed" else 0)
