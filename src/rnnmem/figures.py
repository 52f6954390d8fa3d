"""Plotting shared by the W&B run pages and the paper figures in experiments/.

Every figure is a pure function of records (arrays, DataFrames): same records in, same bytes
out. `save` fixes what would otherwise vary between runs (PDF creation dates, SVG hash salt,
PNG software tag).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

STYLE = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "svg.hashsalt": "rnnmem",
    "pdf.compression": 6,
    "path.simplify": False,
}
CELL_COLOURS = {"rnn": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c"}
CELL_LABELS = {"rnn": "vanilla RNN", "lstm": "LSTM", "gru": "GRU"}


def new_figure(width: float = 6.0, height: float = 3.0, **subplots: object) -> tuple[Figure, object]:
    """A figure in the paper style; `subplots` go to Figure.subplots."""
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(**subplots)
    return fig, axes


def save(fig: Figure, path_stem: Path, formats: tuple[str, ...] = ("pdf", "png")) -> list[Path]:
    """Write `path_stem.<fmt>` for each format with fixed metadata, so bytes are reproducible."""
    metadata = {
        "pdf": {"CreationDate": None, "ModDate": None, "Producer": "rnnmem", "Creator": "rnnmem"},
        "png": {"Software": "rnnmem"},
        "svg": {"Date": None, "Creator": "rnnmem"},
    }
    paths = []
    with plt.rc_context(STYLE):
        for fmt in formats:
            path = Path(f"{path_stem}.{fmt}")
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, format=fmt, metadata=metadata[fmt])
            paths.append(path)
    return paths


def close(fig: Figure) -> None:
    plt.close(fig)


def grad_heatmap(ax: object, steps: np.ndarray, g: np.ndarray, title: str = "") -> object:
    """Probe step x timestep image of g_t (log colour scale); g is (P, T)."""
    g = np.asarray(g, dtype=np.float64)
    positive = g[g > 0]
    vmin = positive.min() if positive.size else 1e-30
    vmax = positive.max() if positive.size else 1.0
    mesh = ax.pcolormesh(
        np.arange(g.shape[1] + 1) - 0.5,
        _edges(np.asarray(steps, dtype=np.float64)),
        np.maximum(g, vmin),
        norm=LogNorm(vmin=vmin, vmax=max(vmax, vmin * 10)),
        cmap="viridis",
        shading="flat",
        rasterized=True,
    )
    ax.set_xlabel("timestep t")
    ax.set_ylabel("training step")
    if title:
        ax.set_title(title)
    return mesh


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (for pcolormesh)."""
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mids = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - mids[0]], mids, [2 * centres[-1] - mids[-1]]])


def run_gradient_figures(arrays: Mapping[str, np.ndarray]) -> dict[str, Figure]:
    """A run's own pictures: heatmap of ||dL/dh_t|| (bottom layer, forward) over training, and
    g_t at the first and last probe."""
    steps, g = arrays["steps"], arrays["h_norm"][:, 0, 0]
    fig_map, ax = new_figure(6.0, 3.0)
    mesh = grad_heatmap(ax, steps, g, "||dL/dh_t||, layer 1, forward")
    fig_map.colorbar(mesh, ax=ax, label="||dL/dh_t||")
    fig_lines, ax = new_figure(6.0, 3.0)
    for index, label in ((0, "first probe"), (-1, "last probe")):
        ax.semilogy(np.arange(g.shape[1]), np.maximum(g[index], 1e-30),
                    label=f"{label} (step {int(steps[index])})")
    ax.set_xlabel("timestep t")
    ax.set_ylabel("||dL/dh_t||")
    ax.legend()
    return {"grad_heatmap": fig_map, "grad_first_last": fig_lines}
