"""Student's t quantiles, exactly, for the intervals of the memory measures (no scipy needed).

For integer degrees of freedom v the t distribution's central probability has a finite series
(Abramowitz & Stegun 1964, 26.7.3-4): with theta = atan(t / sqrt(v)),

    A(t | v) = P(|T| <= t) = 2 theta / pi                                                (v = 1)
             = 2/pi (theta + sin theta cos theta sum_{k=0}^{(v-3)/2} c_k cos^{2k} theta)  (v odd)
             = sin theta sum_{k=0}^{(v-2)/2} d_k cos^{2k} theta                           (v even)

    c_0 = 1, c_k = c_{k-1} 2k / (2k + 1);   d_0 = 1, d_k = d_{k-1} (2k - 1) / (2k)

and the quantile t_{(1 + level) / 2, v} solves A(t | v) = level, found by bisection to within
1e-12 relative (A is increasing in t).
"""

from __future__ import annotations

import functools
import math


def central_probability(t: float, df: int) -> float:
    """A(t | df) = P(|T| <= t) for T ~ Student's t with `df` >= 1 degrees of freedom."""
    if t <= 0:
        return 0.0
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df == 1:
        return 2 * theta / math.pi
    total, term = 1.0, 1.0
    if df % 2:
        for k in range(1, (df - 3) // 2 + 1):
            term *= cos2 * 2 * k / (2 * k + 1)
            total += term
        return 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    for k in range(1, (df - 2) // 2 + 1):
        term *= cos2 * (2 * k - 1) / (2 * k)
        total += term
    return math.sin(theta) * total


@functools.cache
def t_quantile(level: float, df: int) -> float:
    """The half-width factor of a central `level` interval: t with A(t | df) = level."""
    if not 0 < level < 1 or df < 1:
        raise ValueError(f"need 0 < level < 1 and df >= 1, got level={level}, df={df}")
    low, high = 0.0, 1.0
    while central_probability(high, df) < level:
        high *= 2
    while high - low > 1e-12 * high:
        middle = (low + high) / 2
        if central_probability(middle, df) < level:
            low = middle
        else:
            high = middle
    return (low + high) / 2
