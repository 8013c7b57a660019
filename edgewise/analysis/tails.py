"""Latency percentiles reported only when the sample supports them.

MLPerf's rule of thumb: at least 64 samples for p90 (used here for p95 too) and 662 for p99.
A percentile the sample cannot support is a TailEstimate with value None, never a number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewise.analysis.bootstrap import Interval, interval, percentile_rows, replicates

# (highest percentile, samples it needs), in increasing order.
_MIN_SAMPLES = ((50.0, 1), (95.0, 64), (99.0, 662))
SUPPORTED_PERCENTILES = (50, 90, 95, 99)


def min_samples(percentile: float) -> int:
    for bound, needed in _MIN_SAMPLES:
        if percentile <= bound:
            return needed
    raise ValueError(f"percentile {percentile} is beyond p99, which edgewise does not estimate")


def largest_supported(n: int, candidates: tuple[int, ...] = SUPPORTED_PERCENTILES) -> int | None:
    """The highest candidate percentile a sample of n supports, or None when n is 0."""
    return max((p for p in candidates if n >= min_samples(p)), default=None)


@dataclass(frozen=True)
class TailEstimate:
    """A latency percentile in seconds, or the statement that the sample is too small for it."""

    percentile: float
    n: int
    value: float | None
    ci: Interval | None = None

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
        return text

    def to_dict(self) -> dict:
        return {"percentile": self.percentile, "n": self.n, "required": self.required, "value_s": self.value,
                "ci_s": self.ci.to_dict() if self.ci else None,
                "insufficient_samples": self.value is None}


def tail_percentile(samples: np.ndarray, percentile: float, seed: int, with_ci: bool = True) -> TailEstimate:
    samples = np.asarray(samples, dtype=float)
    if samples.size < min_samples(percentile):
        return TailEstimate(percentile, samples.size, None)
    value = float(np.percentile(samples, percentile))
    ci = interval(replicates(samples, percentile_rows(percentile), seed)) if with_ci else None
    return TailEstimate(percentile, samples.size, value, ci)
