"""Rank-based tests the reference study used, implemented on numpy/scipy.stats primitives.

Kruskal-Wallis (tie-corrected), Conover's post-hoc (the scikit-posthocs formula), p-value
adjustment, Cliff's delta in O(n log n), and the Wilcoxon signed-rank test for paired vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import chi2, norm, rankdata
from scipy.stats import t as student_t

PAdjust = Literal["holm", "bonferroni", "fdr_bh", "none"]
P_ADJUST_METHODS: tuple[str, ...] = ("holm", "bonferroni", "fdr_bh", "none")
Magnitude = Literal["negligible", "small", "medium", "large"]
# Romano et al. thresholds, as in the reference study.
_MAGNITUDE_BOUNDS = ((0.147, "negligible"), (0.33, "small"), (0.474, "medium"))


@dataclass(frozen=True)
class KruskalResult:
    h: float
    p: float
    df: int


@dataclass(frozen=True)
class ConoverResult:
    """Pairwise two-sided p-values (unadjusted) and t statistics, k x k, diagonal 1 / 0."""

    p: np.ndarray
    t: np.ndarray


@dataclass(frozen=True)
class CliffsDelta:
    """d = P(x > y) - P(x < y); d > 0 means x tends to be larger."""

    d: float
    magnitude: Magnitude


@dataclass(frozen=True)
class WilcoxonResult:
    statistic: float  # min(W+, W-)
    p: float
    n: int  # pairs left after dropping zero differences
    method: Literal["exact", "normal"]


def _tie_term(ranks: np.ndarray) -> float:
    _, counts = np.unique(ranks, return_counts=True)
    return float(np.sum(counts.astype(float) ** 3 - counts))


def _pooled_ranks(groups: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrays = [np.asarray(g, dtype=float) for g in groups]
    if len(arrays) < 2 or any(a.size == 0 for a in arrays):
        raise ValueError("need at least two non-empty groups")
    sizes = np.array([a.size for a in arrays], dtype=float)
    ranks = rankdata(np.concatenate(arrays))
    rank_sums = np.add.reduceat(ranks, np.concatenate([[0], np.cumsum(sizes[:-1])]).astype(int))
    return ranks, sizes, rank_sums


def _h_statistic(ranks: np.ndarray, sizes: np.ndarray, rank_sums: np.ndarray) -> tuple[float, float]:
    """(tie-corrected H, tie correction factor)."""
    n = ranks.size
    h = 12.0 / (n * (n + 1.0)) * np.sum(rank_sums**2 / sizes) - 3.0 * (n + 1.0)
    correction = min(1.0, 1.0 - _tie_term(ranks) / (n**3.0 - n))
    return float(h / correction) if correction > 0 else float("nan"), correction


def kruskal(groups: Sequence[np.ndarray]) -> KruskalResult:
    """Kruskal-Wallis H test with tie correction; p from the chi-square distribution."""
    ranks, sizes, rank_sums = _pooled_ranks(groups)
    h, _ = _h_statistic(ranks, sizes, rank_sums)
    df = len(sizes) - 1
    return KruskalResult(h=h, p=float(chi2.sf(h, df)), df=df)


def conover(groups: Sequence[np.ndarray]) -> ConoverResult:
    """Conover-Iman pairwise test of mean ranks after Kruskal-Wallis (tie-corrected, unadjusted)."""
    ranks, sizes, rank_sums = _pooled_ranks(groups)
    n, k = ranks.size, sizes.size
    h, correction = _h_statistic(ranks, sizes, rank_sums)
    if correction == 1.0:
        s2 = n * (n + 1.0) / 12.0
    else:
        s2 = (np.sum(ranks**2) - n * (n + 1.0) ** 2 / 4.0) / (n - 1.0)
    mean_ranks = rank_sums / sizes
    diff = np.abs(mean_ranks[:, None] - mean_ranks[None, :])
    scale = np.sqrt(s2 * (1.0 / sizes[:, None] + 1.0 / sizes[None, :]) * (n - 1.0 - h) / (n - k))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(scale > 0, diff / scale, 0.0)
    p = 2.0 * student_t.sf(t, df=n - k)
    np.fill_diagonal(p, 1.0)
    return ConoverResult(p=p, t=t)


def adjust_p(p_values: Sequence[float] | np.ndarray, method: PAdjust = "holm") -> np.ndarray:
    """Adjust a family of p-values: holm (step-down), bonferroni, fdr_bh (Benjamini-Hochberg) or none."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if method == "none" or m == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate(np.minimum((m - np.arange(m)) * ranked, 1.0))
    elif method == "fdr_bh":
        adjusted = np.minimum.accumulate((m / np.arange(m, 0, -1) * ranked[::-1]))[::-1]
        adjusted = np.minimum(adjusted, 1.0)
    else:
        raise ValueError(f"unknown p-value adjustment {method!r}; use one of {', '.join(P_ADJUST_METHODS)}")
    out = np.empty(m)
    out[order] = adjusted
    return out


def magnitude(d: float) -> Magnitude:
    size = abs(d)
    return next((label for bound, label in _MAGNITUDE_BOUNDS if size < bound), "large")  # type: ignore[return-value]


def cliffs_delta(x: np.ndarray, y: np.ndarray) -> CliffsDelta:
    """Cliff's delta by sorting y and counting with searchsorted: O((n + m) log m)."""
    x, y = np.asarray(x, dtype=float), np.sort(np.asarray(y, dtype=float))
    if x.size == 0 or y.size == 0:
        raise ValueError("Cliff's delta needs two non-empty samples")
    below = np.searchsorted(y, x, side="left")  # y values smaller than each x
    above = y.size - np.searchsorted(y, x, side="right")  # y values larger than each x
    d = float((below.sum() - above.sum()) / (x.size * y.size))
    return CliffsDelta(d=d, magnitude=magnitude(d))


def _exact_signed_rank_cdf(statistic: float, n: int) -> float:
    """P(W+ <= statistic) under H0 for integer ranks 1..n (no ties), by dynamic programming."""
    top = n * (n + 1) // 2
    counts = np.zeros(top + 1)
    counts[0] = 1.0
    for r in range(1, n + 1):
        counts[r:] = counts[r:] + counts[:-r].copy()
    return float(counts[: int(np.floor(statistic)) + 1].sum() / 2.0**n)


def wilcoxon(x: np.ndarray, y: np.ndarray) -> WilcoxonResult:
    """Two-sided Wilcoxon signed-rank test of paired samples; zero differences dropped.

    Exact null distribution up to 50 pairs without ties, else the tie-corrected normal approximation.
    """
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    d = d[d != 0]
    n = d.size
    if n == 0:
        return WilcoxonResult(statistic=0.0, p=1.0, n=0, method="exact")
    ranks = rankdata(np.abs(d))
    w_plus = float(ranks[d > 0].sum())
    statistic = min(w_plus, n * (n + 1) / 2.0 - w_plus)
    ties = _tie_term(ranks)
    if n <= 50 and ties == 0:
        p = min(1.0, 2.0 * _exact_signed_rank_cdf(statistic, n))
        return WilcoxonResult(statistic=statistic, p=p, n=n, method="exact")
    mean = n * (n + 1) / 4.0
    sd = np.sqrt(n * (n + 1) * (2 * n + 1) / 24.0 - ties / 48.0)
    p = float(2.0 * norm.sf(abs(statistic - mean) / sd)) if sd > 0 else 1.0
    return WilcoxonResult(statistic=statistic, p=min(1.0, p), n=n, method="normal")
