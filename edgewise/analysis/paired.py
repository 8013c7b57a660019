"""Paired test of accuracy on per-sample correctness: McNemar (exact and mid-p) plus a bootstrap CI of the drop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from edgewise.analysis.bootstrap import N_BOOT, Interval, interval, mean_rows, replicates


@dataclass(frozen=True)
class PairedAccuracy:
    """Baseline minus candidate accuracy on the same evaluation samples, in percentage points."""

    drop_points: float
    ci_points: Interval
    baseline_only: int  # samples the baseline got right and the candidate wrong
    candidate_only: int  # samples the candidate got right and the baseline wrong
    p_exact: float
    p_mid: float
    n: int

    def to_dict(self) -> dict:
        return {"drop_points": self.drop_points, "ci_points": self.ci_points.to_dict(),
                "baseline_only": self.baseline_only, "candidate_only": self.candidate_only,
                "mcnemar_p_exact": self.p_exact, "mcnemar_p_mid": self.p_mid, "n": self.n}


def mcnemar(baseline_only: int, candidate_only: int) -> tuple[float, float]:
    """Two-sided exact McNemar p-value and its mid-p variant (less conservative, Fagerland et al. 2013)."""
    m = baseline_only + candidate_only
    if m == 0:
        return 1.0, 1.0
    k = min(baseline_only, candidate_only)
    exact = min(1.0, 2.0 * float(binom.cdf(k, m, 0.5)))
    mid = min(1.0, exact - float(binom.pmf(k, m, 0.5)))
    return exact, mid


def paired_accuracy(baseline: np.ndarray, candidate: np.ndarray, seed: int, n_boot: int = N_BOOT) -> PairedAccuracy:
    baseline, candidate = np.asarray(baseline, dtype=bool), np.asarray(candidate, dtype=bool)
    if baseline.shape != candidate.shape or baseline.size == 0:
        raise ValueError("paired correctness vectors must be non-empty and of equal length")
    diff = baseline.astype(float) - candidate.astype(float)  # +1: only the baseline was right
    b, c = int((diff > 0).sum()), int((diff < 0).sum())
    exact, mid = mcnemar(b, c)
    means = replicates(diff, mean_rows, seed, n_boot) * 100.0
    return PairedAccuracy(drop_points=float(diff.mean() * 100.0), ci_points=interval(means),
                          baseline_only=b, candidate_only=c, p_exact=exact, p_mid=mid, n=int(diff.size))
