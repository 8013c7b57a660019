"""Tail percentiles only where the sample supports them; McNemar and the paired CI of an accuracy drop."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from edgewise.analysis.paired import mcnemar, paired_accuracy
from edgewise.analysis.pareto import Point, dominates, pareto_front
from edgewise.analysis.tails import largest_supported, tail_percentile


def test_tail_percentile_refuses_small_samples():
    x = np.random.default_rng(0).exponential(0.01, 100)
    assert tail_percentile(x, 95, seed=1).value == pytest.approx(np.percentile(x, 95))
    small = tail_percentile(x[:63], 95, seed=1)
    assert small.value is None and not small.supported
    assert "insufficient samples for p95 (n=63 < 64)" in small.describe()
    assert tail_percentile(x, 99, seed=1).to_dict()["insufficient_samples"]
    assert largest_supported(63) == 50 and largest_supported(64) == 95 and largest_supported(662) == 99


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
