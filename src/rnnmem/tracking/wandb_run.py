"""What a run sends to Weights & Biases, besides Lightning's metric logging.

Offline unless the user sets WANDB_MODE (the run's files go to `<run_dir>/wandb`, or for a
sweep to `<sweep_dir>/wandb`, one directory for all its runs, readable with `wandb leet` and
uploadable with `wandb sync`). Per probe: memory coverage and the gradient summaries as
scalars, and each per-timestep vector (the input sensitivity s_t, every g_t) as a
`wandb.Histogram` whose bins are the timesteps and whose heights are the norms, so that W&B
draws the training-step x timestep heatmap. At the end: a heatmap image and a line plot of g_t
at the first and last probe (`rnnmem.tracking.images`), and the forgetting curve as a table and a
line plot (`forgetting/table`, `forgetting/curve`). Item memory per lag
(`rnnmem.measures.item_memory`) as line plots: the probe view (gradient or probability) at every
probe, the end views (intervention or choice, and storage) at the end
(`item_memory/<view>`).
"""

from __future__ import annotations

import netrc
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import wandb
from pytorch_lightning.loggers import WandbLogger

from rnnmem.measures.probe import DIRECTIONS, ProbeResult
from rnnmem.tracking import images

MAX_HISTOGRAM_BINS = 512  # W&B's limit on the bins of one histogram
REACH_TIMEOUT_S = 5.0  # how long the one up-front check waits for the W&B server
CHECKED_ENV = "RNNMEM_WANDB_CHECKED"  # set once checked: a sweep's jobs do not check again
FALLBACK_ENV = "RNNMEM_WANDB_FALLBACK"  # the fallback note, for records and the sweep summary


class WandbUnavailable(RuntimeError):
    """WANDB_MODE=online, but no API key or no server within REACH_TIMEOUT_S (one line)."""


def online_problem(timeout: float = REACH_TIMEOUT_S) -> str | None:
    """Why online logging cannot work here (no key, server unreachable), or None if it can.

    The key is WANDB_API_KEY or the `wandb login` entry of ~/.netrc for the server
    (WANDB_BASE_URL, default https://api.wandb.ai); reachable means any HTTP answer."""
    base_url = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    host = urllib.parse.urlparse(base_url).hostname or base_url
    key = os.environ.get("WANDB_API_KEY")
    if not key:
        try:
            entry = netrc.netrc().authenticators(host)
        except (OSError, netrc.NetrcParseError):
            entry = None
        key = entry[2] if entry else None
    if not key:
        return f"no W&B API key for {host} (set WANDB_API_KEY or run `wandb login`)"
    try:
        urllib.request.urlopen(base_url, timeout=timeout).close()
    except urllib.error.HTTPError:
        pass  # the server answered
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return f"cannot reach {base_url} within {timeout:g} s ({reason})"
    return None


def check_online(if_unreachable: str) -> str | None:
    """Check once, before anything trains, that WANDB_MODE=online can work.

    Returns None when there is nothing to say (offline or disabled mode, or online and fine).
    Otherwise raises WandbUnavailable (`if_unreachable='error'`), or switches this process and
    the jobs it starts to offline logging and returns the note that says so."""
    if os.environ.get(CHECKED_ENV):
        return os.environ.get(FALLBACK_ENV)
    os.environ[CHECKED_ENV] = "1"
    if os.environ.get("WANDB_MODE", "offline") not in ("online", "run"):
        return None
    problem = online_problem()
    if problem is None:
        return None
    if if_unreachable == "error":
        raise WandbUnavailable(f"WANDB_MODE=online but {problem}; set WANDB_MODE=offline or "
                               "logger.if_unreachable=offline")
    note = f"W&B logged offline: WANDB_MODE=online but {problem} (upload later: wandb sync)"
    os.environ["WANDB_MODE"] = "offline"
    os.environ[FALLBACK_ENV] = note
    return note


class StopFlag(Protocol):
    """The process's stop signal as a run sees it (`rnnmem.training.preemption.STOP`): the
    signal number received, None before any, and its name."""

    received: int | None

    @property
    def name(self) -> str | None: ...


class RunLogger(WandbLogger):
    """Lightning's WandbLogger, whose logging after a stop signal cannot fail the run.

    On SLURM a preemption or requeue signals every process of the job, W&B's service among
    them; Lightning may still log the current step (its metrics, the probe's, validation's)
    before the run reaches the checkpoint that the signal asked for. Once `stop` has received a
    signal, an error of `log_metrics` is kept in `error` (the record's `wandb_error`; the
    numbers are in the record) instead of raised. Before a signal it raises, as any logging
    error does."""

    error: str | None = None
    stop: StopFlag | None = None

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        try:
            super().log_metrics(metrics, step)
        except Exception as err:
            if self.stop is None or self.stop.received is None:
                raise
            if self.error is None:
                self.error = (f"logging after {self.stop.name} failed: "
                              f"{type(err).__name__}: {err}")


def make_logger(
    save_dir: Path, *, name: str, project: str, entity: str | None, group: str | None,
    job_type: str, config: Mapping[str, Any], run_id: str, stop: StopFlag,
) -> RunLogger:
    """A RunLogger around the W&B run `run_id`, started now (so that a crash later is recorded
    too) or, when a preempted run resumes, continued (`resume="allow"`): one W&B run per run
    however often it restarts; its logging errors after `stop` has received a signal are kept,
    not raised. Offline files go to `save_dir/wandb/offline-run-*-<run_id>`. The
    package list is not uploaded: the record holds the version and git commit, and scanning the
    environment costs half a second."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    save_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        name=name, project=project, entity=entity, group=group, job_type=job_type,
        id=run_id, resume="allow", dir=str(save_dir), config=dict(config), reinit="finish_previous",
        settings=wandb.Settings(x_save_requirements=False),
    )
    logger = RunLogger(experiment=run)
    logger.stop = stop
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
    """Scalars and histograms of one probe, keyed for the W&B UI: the scalar summaries
    (`probe/memory_coverage`, `probe/item_span`, `probe/item_capacity`, ...) and the bottom
    layer's forward summaries under `probe/`, the probe view's item memory per lag as a line
    plot (`item_memory/gradient` or `item_memory/probability`, one per probe), every layer and
    direction's under `probe_l<k>_<fwd|bwd>/` (deep or bidirectional nets), the input
    sensitivity s_t as `grad_x`, g_t as `grad_h/l<k>_<dir>` (`grad_c/` for LSTM cell
    states)."""
    per_layer = {name: table for name, table in summaries.items() if np.ndim(table) == 2}
    payload: dict[str, Any] = {
        "probe/loss": result.loss,
        **{f"probe/{name}": float(value) for name, value in summaries.items()
           if np.ndim(value) == 0},
        "grad_x": timestep_histogram(result.x_norm),
    }
    if result.item_memory is not None:
        payload.update(item_memory_payload(result.item_memory, result.item_view, result.step))
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


def item_memory_payload(curve: np.ndarray, view: str, step: int) -> dict[str, Any]:
    """One view's item memory per lag (`rnnmem.measures.item_memory`, curve (5, K): memory,
    stderr, count, low, high) as a W&B table (measured lags only) and its line plot,
    `item_memory/<view>`."""
    lags = np.flatnonzero(~np.isnan(curve[0]))
    table = wandb.Table(columns=["lag", "memory", "stderr", "count", "low", "high"],
                        data=[[int(lag), float(curve[0, lag]), float(curve[1, lag]),
                               int(curve[2, lag]), float(curve[3, lag]), float(curve[4, lag])]
                              for lag in lags])
    title = f"{view} item memory by lag (1 perfect, 0 none), step {step}"
    return {f"item_memory/{view}": wandb.plot.line(table, "lag", "memory", title=title)}


def forgetting_payload(forgetting: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run's forgetting curve (`rnnmem.measures.forgetting`) as a W&B table and a line plot of
    the
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
    `finish` with exit code 1 when the run failed or was preempted (marked preempting, it is
    continued when the run resumes)."""
    run = logger.experiment
    payload: dict[str, Any] = {}
    if record["status"] == "preempted":
        run.mark_preempting()
    else:
        if arrays:
            for key, fig in images.run_gradient_figures(arrays).items():
                payload[key] = wandb.Image(fig)
                images.close(fig)
            payload["trainer/global_step"] = int(arrays["steps"][-1])
        payload.update(forgetting_payload(record.get("forgetting")))
        memory = record.get("item_memory") or {}
        for view in memory.get("views", [])[1:]:  # the end views: the probe's went at each probe
            for entry in memory.get(view, [])[-1:]:
                payload.update(item_memory_payload(np.array(entry["curve"], dtype=np.float64),
                                                   view, entry["step"]))
    if payload:
        run.log(payload)
    run.summary.update(
        {k: v for k, v in record.items() if isinstance(v, (int, float, str, bool))}
    )
    run.finish(exit_code=0 if record["status"] in ("finished", "diverged") else 1)
