"""The pictures of one run, for its W&B page: a heatmap of g_t over training and g_t at the
first and last probe, in the plot style of the paper figures (`rnnmem.reporting.style`).

A training process imports this module and that style only, never the paper-figure code: it
is small, and it draws at the end of every run of a sweep, so it must be cheap (fixed margins,
no layout engine).
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rnnmem.reporting.style import STYLE, grad_heatmap  # noqa: E402


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
