"""Over seeds: how a configuration's runs are summarised, one convention for every figure and
table.

- Metrics: the arithmetic mean, with a band from the smallest to the largest seed
  (`range_band`).
- Gradient norms (and the input sensitivity): the geometric mean 10**mean(log10 g), with a band
  of log10 g +- one standard deviation (`log_band`); a value that is 0 or not finite (an exactly
  vanished gradient) is left out, a gap in the line where no seed has one.
- Item memory per lag: the mean over seeds, with a band from the lowest seed's 95% interval
  low end to the highest seed's high end (`interval_band`): it holds every seed's interval and
  the spread between seeds, and is drawn for one seed too.
- Solved: more than half of the completed (finished or diverged) seeds solved it
  (`solved_by_majority`); a preempted or missing run does not count.

A band is drawn only where more than one seed is behind a point (`SeedBand.has_spread`)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd


class SeedBand(NamedTuple):
    """Per x, ascending: the centre line, the band's low and high edges, and the seed count."""

    x: np.ndarray
    centre: np.ndarray
    low: np.ndarray
    high: np.ndarray
    count: np.ndarray

    @property
    def has_spread(self) -> bool:
        """Whether some point has more than one seed behind it (a band to draw)."""
        return bool(len(self.count)) and bool(self.count.max() > 1)


def range_band(frame: pd.DataFrame, x: str, y: str) -> SeedBand:
    """Per x: mean, min and max of the finite y, and their count."""
    ok = frame[np.isfinite(frame[y].to_numpy(dtype=float))]
    stats = ok.groupby(x, sort=True)[y].agg(["mean", "min", "max", "count"])
    return SeedBand(stats.index.to_numpy(dtype=float), stats["mean"].to_numpy(dtype=float),
                    stats["min"].to_numpy(dtype=float), stats["max"].to_numpy(dtype=float),
                    stats["count"].to_numpy())


def log_band(frame: pd.DataFrame, x: str, y: str) -> SeedBand:
    """Per x: 10**mean(log10 y), 10**(mean -+ std) (population std), and the count of the y > 0
    and finite; NaN (a gap in the line) where there is none, e.g. an exactly vanished
    gradient."""
    values = frame[y].to_numpy(dtype=float)
    ok = np.isfinite(values) & (values > 0)
    logs = pd.Series(np.where(ok, np.log10(np.where(ok, values, 1.0)), np.nan))
    stats = logs.groupby(frame[x].to_numpy(), sort=True)
    mean, std, count = stats.mean(), stats.std(ddof=0).fillna(0.0), stats.count()
    return SeedBand(mean.index.to_numpy(dtype=float), 10 ** mean.to_numpy(),
                    10 ** (mean - std).to_numpy(), 10 ** (mean + std).to_numpy(),
                    count.to_numpy())


def interval_band(frame: pd.DataFrame, x: str, y: str, low: str = "low",
                  high: str = "high") -> SeedBand:
    """Per x: the mean of the finite y over seeds, the smallest `low` and the largest `high`
    (each seed's interval ends), and the count of finite y."""
    ok = frame[np.isfinite(frame[y].to_numpy(dtype=float))]
    grouped = ok.groupby(x, sort=True)
    stats = pd.DataFrame({"mean": grouped[y].mean(), "low": grouped[low].min(),
                          "high": grouped[high].max(), "count": grouped[y].count()})
    return SeedBand(stats.index.to_numpy(dtype=float), stats["mean"].to_numpy(dtype=float),
                    stats["low"].to_numpy(dtype=float), stats["high"].to_numpy(dtype=float),
                    stats["count"].to_numpy())


def solved_by_majority(runs: pd.DataFrame) -> bool:
    """Whether more than half of the completed (finished or diverged) runs solved the task."""
    done = runs[runs["status"].isin(("finished", "diverged"))]
    return bool(len(done)) and int(done["solved"].astype(bool).sum()) * 2 > len(done)
