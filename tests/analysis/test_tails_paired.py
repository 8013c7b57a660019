"""Tail percentiles only where the sample supports them; McNemar and the paired CI of an accuracy drop."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from edgewise.analysis.paired import mcnemar, paired_accuracy
from edgewise.analysis.pareto import Point, dominates, pareto_front
from edgewise.analysis.tails import largest_supported, min_samples, tail_percentile, upper_bound


def test_tail_percentile_refuses_small_samples():
    x = np.random.default_rng(0).exponential(0.01, 200)
    assert tail_percentile(x, 95, seed=1).value == pytest.approx(np.percentile(x, 95))
    small = tail_percentile(x[:129], 95, seed=1)
    assert small.value is None and not small.supported
    assert "insufficient samples for p95 (n=129 < 130)" in small.describe()
    assert tail_percentile(x, 99, seed=1).to_dict()["insufficient_samples"]
    assert largest_supported(63) == 50 and largest_supported(64) == 90 and largest_supported(130) == 95
    assert largest_supported(662) == 99 and largest_supported(0) is None
    # p50 keeps its point estimate for a tiny protocol, without a bound.
    tiny = tail_percentile(x[:5], 50, seed=1)
    assert tiny.value == pytest.approx(np.median(x[:5])) and tiny.bound is None


def _binomial_cdf(k: int, n: int, q: float) -> float:
    """P(at most k successes in n draws of probability q), summed term by term."""
    return math.fsum(math.comb(n, j) * q ** j * (1 - q) ** (n - j) for j in range(k + 1))


@pytest.mark.parametrize("percentile", [50, 90, 95, 99])
def test_minimum_samples_are_mlperf_early_stopping_minima(percentile):
    # LoadGen needs h_min + 1 queries, h_min the fewest under-latency queries that bound with one over.
    n = min_samples(percentile)
    q = 1 - percentile / 100
    assert _binomial_cdf(1, n, q) < 0.01 <= _binomial_cdf(1, n - 1, q)
    assert {50: 11, 90: 64, 95: 130, 99: 662}[percentile] == n


@pytest.mark.parametrize("n", [130, 141, 160, 200, 333, 1000])
def test_upper_bound_is_the_order_statistic_a_direct_binomial_computation_gives(n):
    x = np.random.default_rng(n).lognormal(0, 0.5, n)
    bound = upper_bound(x, 95)
    q = 0.05
    # t: the most samples above p95 whose count is still improbable (< 1 %) in n draws; the next is not.
    t = max(i for i in range(1, n + 1) if _binomial_cdf(i, n, q) < 0.01)
    assert _binomial_cdf(t + 1, n, q) >= 0.01
    assert bound.order_index == n - t + 1 and bound.value == np.sort(x)[n - t]
    assert bound.confidence == 0.99 and bound.n == n
    # The order statistic lies above p95 with at least 99 % probability: P(Binomial(n, 0.95) <= index - 1).
    assert _binomial_cdf(bound.order_index - 1, n, 0.95) >= 0.99
    assert bound.value >= np.percentile(x, 95)
    estimate = tail_percentile(x, 95, seed=0)
    assert estimate.bound == bound
    assert f"order statistic {bound.order_index} of {n}, 99% confidence" in estimate.describe()
    assert estimate.to_dict()["upper_bound"]["order_index"] == bound.order_index


def test_upper_bound_covers_the_true_percentile():
    # Exponential(1): p95 = ln 20. Over 2,000 samples of 150 the bound falls below it about 1 % of the time.
    rng = np.random.default_rng(5)
    below = sum(upper_bound(rng.exponential(1.0, 150), 95).value < math.log(20) for _ in range(2000))
    assert below <= 2000 * 0.01 * 2


def test_tail_ci_brackets_value_and_is_seeded():
    x = np.random.default_rng(1).lognormal(0, 0.3, 500)
    a, b = tail_percentile(x, 90, seed=3), tail_percentile(x, 90, seed=3)
    assert a.ci == b.ci and a.ci.low <= a.value <= a.ci.high


def test_mcnemar_exact_matches_binomial_test():
    exact, mid = mcnemar(12, 4)
    assert exact == pytest.approx(binomtest(4, 16, 0.5).pvalue, rel=1e-12)
    assert mid < exact
    assert mcnemar(0, 0) == (1.0, 1.0)


def test_paired_accuracy_drop_and_ci():
    base = np.random.default_rng(2).random(1000) < 0.9
    cand = base.copy()
    cand[np.flatnonzero(base)[:30]] = False
    result = paired_accuracy(base, cand, seed=0)
    assert result.drop_points == pytest.approx(3.0)
    assert result.baseline_only == 30 and result.candidate_only == 0
    assert 0 < result.ci_points.low < 3.0 < result.ci_points.high
    assert result.p_exact < 1e-6


def test_pareto_front_equals_brute_force():
    rng = np.random.default_rng(3)
    points = [Point(str(i), float(rng.random()), float(rng.random())) for i in range(300)]
    brute = {p.name for p in points if not any(dominates(q, p) for q in points)}
    front = pareto_front(points)
    assert {p.name for p in front} == brute
    assert [p.latency_s for p in front] == sorted(p.latency_s for p in front)
