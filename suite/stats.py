"""The interquartile mean over seeds and its 95 % percentile-bootstrap confidence interval,
as Agarwal et al. (NeurIPS 2021) recommend, with SciPy's ``trim_mean`` and ``bootstrap``.

Here, not in ``analysis/``, because ``benchmarks/render_results.py`` needs only these: it
starts in well under a second without Ray and RLlib, which ``analysis`` imports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 2000


def iqm(values: Sequence[float]) -> float:
    """The interquartile mean: the mean of the middle 50 % (NaN for no values)."""
    from scipy import stats  # ~1 s to import: only where a figure over seeds is computed

    values = np.asarray(values, dtype=float)
    return float(stats.trim_mean(values, 0.25)) if values.size else math.nan


@dataclass
class Interval:
    """A point estimate over seeds with its 95 % confidence interval."""

    value: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        if math.isnan(self.value):
            return "n/a"
        if self.n < 2:
            return f"{_number(self.value)} (one seed: no CI)"
        return f"{_number(self.value)} [{_number(self.low)}, {_number(self.high)}]"


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def iqm_ci(values: Sequence[float], seed: int = 0) -> Interval:
    """IQM of ``values`` (NaN dropped) with a 95 % percentile-bootstrap CI; the resampling
    has a fixed seed, so the same values give the same interval."""
    from scipy import stats

    values = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    point = iqm(values)
    if values.size < 2 or np.ptp(values) == 0:
        return Interval(point, point, point, int(values.size))
    ci = stats.bootstrap(
        (values,),
        lambda sample, axis: stats.trim_mean(sample, 0.25, axis=axis),
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return Interval(point, float(ci.low), float(ci.high), int(values.size))
