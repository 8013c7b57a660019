"""Latency percentiles reported only when the sample supports them, with a conservative upper bound.

The bound is MLPerf LoadGen's early-stopping estimate (loadgen/early_stopping.cc, results.cc), at its
confidence of 0.99 and tolerance 0: with n samples sorted, let t be the largest count of samples
above the p-quantile such that seeing at most t of them in n draws has probability below 1 - 0.99
(a binomial CDF with success probability 1 - p); the bound is the t-th largest sample, i.e. the
order statistic of index n - t + 1. The smallest n for which t >= 1 exists is the sample a
percentile needs (11 for p50, 64 for p90, 130 for p95, 662 for p99). A percentile the sample cannot
support is a TailEstimate with value None, never a number; p50 alone keeps its point estimate below
its minimum (a user's tiny protocol), without a bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import binom

from edgewise.analysis.bootstrap import Interval, interval, percentile_rows, replicates
from edgewise.sla import PERCENTILES

EARLY_STOPPING_CONFIDENCE = 0.99  # MLPerf LoadGen's, for every latency scenario
SUPPORTED_PERCENTILES = PERCENTILES  # the ones an SLA may state


def overlatency_counts(n: int, percentile: float, confidence: float = EARLY_STOPPING_CONFIDENCE) -> int:
    """MLPerf's t: the most samples above the percentile that n samples still bound; 0 when n is too small.

    P(at most i of n above the p-quantile) = binom.cdf(i, n, 1 - p) grows with i, so the i that pass
    (probability below 1 - confidence) are a prefix 1..t: LoadGen's loop stops at the first that fails."""
    if n < 2:
        return 0
    over = np.arange(1, n + 1)
    return int(np.count_nonzero(binom.cdf(over, n, 1 - percentile / 100) < 1 - confidence))


@lru_cache(maxsize=None)
def min_samples(percentile: float, confidence: float = EARLY_STOPPING_CONFIDENCE) -> int:
    """The smallest n whose early-stopping bound exists (t >= 1) for this percentile."""
    if not 0 < percentile < 100:
        raise ValueError(f"percentile {percentile} must lie strictly between 0 and 100")
    q = 1 - percentile / 100
    n = 2
    while (1 - q) ** n + n * q * (1 - q) ** (n - 1) >= 1 - confidence:  # binom.cdf(1, n, q), closed form
        n += 1
    return n


@dataclass(frozen=True)
class UpperBound:
    """The early-stopping bound: the `order_index`-th smallest of n samples (1-based)."""

    value: float
    order_index: int
    n: int
    confidence: float = EARLY_STOPPING_CONFIDENCE

    def describe(self, scale: float, unit: str) -> str:
        return (f"upper bound {self.value * scale:.4g} {unit} (order statistic {self.order_index} of "
                f"{self.n}, {self.confidence:.0%} confidence)")

    def to_dict(self) -> dict:
        return {"value_s": self.value, "order_index": self.order_index, "n": self.n, "confidence": self.confidence,
                "method": "mlperf-early-stopping"}


def upper_bound(samples: np.ndarray, percentile: float,
                confidence: float = EARLY_STOPPING_CONFIDENCE) -> UpperBound | None:
    """MLPerf's early-stopping estimate of the percentile, or None when the sample is too small."""
    ordered = np.sort(np.asarray(samples, dtype=float))
    t = overlatency_counts(ordered.size, percentile, confidence)
    if t < 1:
        return None
    index = ordered.size - t + 1
    return UpperBound(float(ordered[index - 1]), index, int(ordered.size), confidence)


def largest_supported(n: int, candidates: tuple[int, ...] = SUPPORTED_PERCENTILES) -> int | None:
    """The highest candidate percentile a sample of n supports, or None when n is 0."""
    if n < 1:
        return None
    return max((p for p in candidates if n >= min_samples(p)), default=50 if 50 in candidates else None)


@dataclass(frozen=True)
class TailEstimate:
    """A latency percentile in seconds, or the statement that the sample is too small for it."""

    percentile: float
    n: int
    value: float | None
    ci: Interval | None = None
    bound: UpperBound | None = None

    @property
    def supported(self) -> bool:
        return self.value is not None

    @property
    def required(self) -> int:
        return min_samples(self.percentile)

    def describe(self, unit_ms: bool = True) -> str:
        if self.value is None:
            return f"insufficient samples for p{self.percentile:g} (n={self.n} < {self.required})"
        scale, unit = (1e3, "ms") if unit_ms else (1.0, "s")
        text = f"p{self.percentile:g} {self.value * scale:.4g} {unit}"
        if self.ci is not None:
            text += f" [{self.ci.low * scale:.4g}, {self.ci.high * scale:.4g}]"
        if self.bound is not None:
            text += f", {self.bound.describe(scale, unit)}"
        return text

    def to_dict(self) -> dict:
        return {"percentile": self.percentile, "n": self.n, "required": self.required, "value_s": self.value,
                "ci_s": self.ci.to_dict() if self.ci else None,
                "upper_bound": self.bound.to_dict() if self.bound else None,
                "insufficient_samples": self.value is None}


def tail_percentile(samples: np.ndarray, percentile: float, seed: int, with_ci: bool = True) -> TailEstimate:
    samples = np.asarray(samples, dtype=float)
    bound = upper_bound(samples, percentile)
    if bound is None and not (percentile == 50 and samples.size):
        return TailEstimate(percentile, samples.size, None)
    value = float(np.percentile(samples, percentile))
    ci = interval(replicates(samples, percentile_rows(percentile), seed)) if with_ci else None
    return TailEstimate(percentile, samples.size, value, ci, bound)
