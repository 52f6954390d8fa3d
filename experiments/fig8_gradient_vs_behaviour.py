"""Figure 8: does the gradient predict behaviour? The probe's headline against memory span.

Fed by `make sweep` (the default preset, the CPU story) or `make sweep EXPERIMENT=paper` (the
paper's grid); redrawn by `make figures SWEEP=<sweep dir>`. Written with
`fig8_gradient_vs_behaviour.md`: the rank correlations and what they say.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from rnnmem import analysis, figures

CAPTION = """
Every finished run of the grid: the gradient probe's headline (memory coverage, the fraction of
the information-bearing input steps at which the input sensitivity ||dL/dx_t|| is at least 1%
of its maximum; the memory horizon for records that predate it) at initialisation (left) and
after training (right), against the behavioural memory span of the same run as a fraction of
the largest lag there is (the loss anchor). Filled: the run solved the task. Titles: Spearman's
rank correlation over the runs of the panel.
"""


def correlations(frame: pd.DataFrame, tasks: list[str]) -> dict[tuple[str, str], float]:
    return {(task, stage): analysis.rank_correlation(*(frame[frame["task"] == task][c]
                                                       for c in (stage, "span")))
            for task in tasks for stage in ("init", "trained")}


def findings(frame: pd.DataFrame, rho: dict[tuple[str, str], float], headline: str
             ) -> list[str]:
    """What the figure shows, in numbers: per task and stage the rank correlation of the
    headline with the span and with solved, and the headline's mean over solved and unsolved
    runs."""
    lines = [f"| task | stage | runs | rank corr. ({headline} vs span) | rank corr. "
             f"({headline} vs solved) | mean {headline}, solved | mean, not solved |",
             "|---|---|---|---|---|---|---|"]
    for (task, stage), value in rho.items():
        data = frame[frame["task"] == task]
        data = data[data[stage].notna()]
        solved = analysis.rank_correlation(data[stage], data["solved"].astype(float))
        means = [data[data["solved"] == s][stage].mean() for s in (True, False)]
        lines.append(f"| {task} | {stage} | {len(data)} | {_signed(value)} | {_signed(solved)} "
                     f"| {_plain(means[0])} | {_plain(means[1])} |")
    trained = [v for (_, stage), v in rho.items() if stage == "trained" and math.isfinite(v)]
    if trained:
        strength = ("strongly" if min(trained) >= 0.7 else "moderately" if min(trained) >= 0.4
                    else "weakly or not")
        lines += ["", f"After training, the {headline} tracks the behavioural memory span "
                  f"{strength} (rank correlation {_per_task(rho, 'trained')}); at "
                  f"initialisation: {_per_task(rho, 'init')}."]
    else:
        lines += ["", "No rank correlation after training: fewer than three runs with probe "
                  "data, or the span or the headline is the same for every run (n/a)."]
    return lines


def _per_task(rho: dict[tuple[str, str], float], stage: str) -> str:
    """'adding +0.51, copy n/a (no spread)': one stage's correlation for every task."""
    return ", ".join(f"{task} {_signed(value)}" + ("" if math.isfinite(value) else
                                                    " (span or headline without spread)")
                     for (task, at), value in rho.items() if at == stage)


def _signed(value: float) -> str:
    return f"{value:+.2f}" if math.isfinite(value) else "n/a"


def _plain(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "n/a"


def make(runs: pd.DataFrame, sweep_dir: Path, out_dir: Path) -> list[Path]:
    frame = analysis.behaviour_frame(runs)
    tasks = analysis.tasks_of(runs)
    _, headline = analysis.gradient_headline(runs)
    rho = correlations(frame, tasks)
    notes = analysis.gap_notes(analysis.gaps_for(runs))
    fig = figures.gradient_vs_behaviour(frame, tasks, headline, rho, notes=notes,
                                        title="Gradient headline against behavioural memory")
    paths = figures.save(fig, out_dir / "fig8_gradient_vs_behaviour")
    figures.close(fig)
    text = out_dir / "fig8_gradient_vs_behaviour.md"
    text.write_text("\n".join(findings(frame, rho, headline.split(" (")[0])) + "\n")
    return [*paths, text]
