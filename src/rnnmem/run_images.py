"""The pictures of one run, for its W&B page: a heatmap of g_t over training and g_t at the
first and last probe; and the plot style (`STYLE`) and heatmap they share with the paper
figures (`rnnmem.figures`).

A training process imports this module only, never the paper-figure code: it is small, and
it draws at the end of every run of a sweep, so it must be cheap (fixed margins, no layout
engine).
"""

from __future__ import annotations

from collections.abc import Mapping

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
    """A run's own pictures for its W&B page: heatmap of ||dL/dh_t|| (bottom layer, forward)
    over training, and g_t at the first and last probe. Fixed margins instead of a layout
    engine: these are drawn at the end of every run of a sweep, and must be cheap."""
    steps, g = arrays["steps"], arrays["h_norm"][:, 0, 0]
    with plt.rc_context(STYLE):
        fig_map = plt.figure(figsize=(6.0, 3.0))
        ax = fig_map.add_axes((0.1, 0.16, 0.72, 0.74))
        mesh = grad_heatmap(ax, steps, g, "||dL/dh_t||, layer 1, forward")
        fig_map.colorbar(mesh, cax=fig_map.add_axes((0.85, 0.16, 0.025, 0.74)),
                         label="||dL/dh_t||")
        fig_lines = plt.figure(figsize=(6.0, 3.0))
        ax = fig_lines.add_axes((0.12, 0.16, 0.84, 0.74))
        for index, label in ((0, "first probe"), (-1, "last probe")):
            ax.semilogy(np.arange(g.shape[1]), np.maximum(g[index], 1e-30),
                        label=f"{label} (step {int(steps[index])})")
        ax.set_xlabel("timestep t")
        ax.set_ylabel("||dL/dh_t||")
        ax.legend()
    return {"grad_heatmap": fig_map, "grad_first_last": fig_lines}


def close(fig: Figure) -> None:
    plt.close(fig)
