"""The plot style and the g_t heatmap that the paper figures (`rnnmem.reporting.figures`) and a
run's own W&B pictures (`rnnmem.tracking.images`) share. Matplotlib only."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

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
