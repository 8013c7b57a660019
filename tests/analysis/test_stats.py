"""The rank tests against scipy, scikit-posthocs and statsmodels; Cliff's delta against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import scikit_posthocs as sp
import scipy.stats as ss
from statsmodels.stats.multitest import multipletests

from edgewise.analysis.stats import adjust_p, cliffs_delta, conover, kruskal, magnitude, wilcoxon


def _groups(seed: int, ties: bool):
    rng = np.random.default_rng(seed)
    groups = [rng.normal(mu, 1.0, n) for mu, n in ((0, 30), (0.4, 45), (1.0, 25), (0.1, 33))]
    return [g.round(1) for g in groups] if ties else groups


@pytest.mark.parametrize("ties", [False, True])
def test_kruskal_matches_scipy(ties):
    groups = _groups(1, ties)
    ours, ref = kruskal(groups), ss.kruskal(*groups)
    assert ours.h == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-9)
    assert ours.df == 3


@pytest.mark.parametrize("ties", [False, True])
def test_conover_matches_scikit_posthocs(ties):
    groups = _groups(2, ties)
    np.testing.assert_allclose(conover(groups).p, sp.posthoc_conover(groups).to_numpy(), rtol=1e-10)


@pytest.mark.parametrize("method", ["holm", "bonferroni", "fdr_bh"])
def test_adjust_p_matches_statsmodels(method):
    p = np.random.default_rng(3).uniform(0, 0.1, 15)
    np.testing.assert_allclose(adjust_p(p, method), multipletests(p, method=method)[1], rtol=1e-12)
    np.testing.assert_array_equal(adjust_p(p, "none"), p)


def test_cliffs_delta_matches_brute_force_with_ties():
    rng = np.random.default_rng(4)
    x, y = rng.integers(0, 20, 300).astype(float), rng.integers(3, 25, 250).astype(float)
    brute = np.sign(x[:, None] - y[None, :]).mean()
    result = cliffs_delta(x, y)
    assert result.d == pytest.approx(brute, abs=1e-15)
    assert cliffs_delta(y, x).d == pytest.approx(-brute, abs=1e-15)


def test_magnitude_thresholds():
    assert [magnitude(d) for d in (0.1, -0.2, 0.4, -0.474, 1.0)] == ["negligible", "small", "medium", "large", "large"]


def test_wilcoxon_exact_and_normal_match_scipy():
    rng = np.random.default_rng(5)
    x, y = rng.normal(0, 1, 12), rng.normal(0.5, 1, 12)
    exact = wilcoxon(x, y)
    assert exact.method == "exact"
    assert exact.p == pytest.approx(ss.wilcoxon(x, y, method="exact").pvalue, rel=1e-12)
    a, b = rng.integers(0, 10, 80).astype(float), rng.integers(1, 11, 80).astype(float)
    approx = wilcoxon(a, b)
    ref = ss.wilcoxon(a, b, method="approx", correction=False, zero_method="wilcox")
    assert approx.method == "normal"
    assert approx.statistic == ref.statistic
    assert approx.p == pytest.approx(ref.pvalue, rel=1e-10)
