"""The reference CSVs import unchanged, and every default comparison equals scipy + scikit-posthocs."""

from __future__ import annotations

import pytest
import scikit_posthocs as sp
import scipy.stats as ss

from edgewise.analysis import compare_cells, default_analyses, findings


def test_whitebox_import(whitebox):
    assert len(whitebox.cells) == 80 and all(c.latency_s.size == 500 for c in whitebox.cells)
    assert whitebox.subjects == ["bert", "roberta", "resnet", "resnext"]
    assert set(whitebox.chains) == {"identity", "sptq", "qat", "prune", "distill", "distill+sptq",
                                    "partition", "sptq+partition"}
    cell = whitebox.cell("resnet:sptq+partition@mobile-edge")
    assert cell.accuracy == {"top1": pytest.approx(0.82148), "top5": pytest.approx(0.95792)}
    assert cell.correct is None
    # Cloud cells carry the GPU tier's accuracy; both columns are kept.
    assert whitebox.cell("roberta:distill+sptq@cloud").accuracy["f1"] == pytest.approx(0.88455)
    assert whitebox.cell("roberta:distill+sptq@edge").accuracy["f1"] == pytest.approx(0.8807)
    assert whitebox.cell("bert:identity@mobile").latency_s[0] == pytest.approx(5.08145904541)


def test_blackbox_import(blackbox):
    assert len(blackbox.cells) == 72
    assert set(blackbox.placements) == {"mobile", "edge", "cloud", "mobile-edge", "edge-cloud", "mobile-cloud"}
    assert blackbox.cell("duc:sptq+early-exit@edge").accuracy == {"miou": pytest.approx(0.7532)}
    # ResNext Partition has no accuracy row: partitioning is lossless, so the unpartitioned row is used.
    assert blackbox.cell("resnext:partition@edge-cloud").accuracy["top1"] == pytest.approx(0.83244)


def test_every_default_comparison_matches_independent_computation(whitebox):
    analyses = default_analyses(whitebox, p_adjust="none")
    assert len(analyses.comparisons) == 44  # 16 chain, 24 placement, 4 partition-against-first-tier families
    for comp in analyses.comparisons:
        groups = [whitebox.cell(n).latency_s for n in comp.cells]
        ref_kw = ss.kruskal(*groups)
        assert comp.kruskal.h == pytest.approx(ref_kw.statistic, rel=1e-10)
        assert comp.kruskal.p == pytest.approx(ref_kw.pvalue, rel=1e-6, abs=1e-300)
        ref_p = sp.posthoc_conover(groups).to_numpy()
        for pair in comp.pairs:
            i, j = comp.cells.index(pair.a), comp.cells.index(pair.b)
            assert pair.conover_p == pytest.approx(ref_p[i, j], rel=1e-8, abs=1e-300)
            assert pair.adjusted_p == pair.conover_p
            x, y = groups[i], groups[j]
            # Independent Cliff's delta: the Mann-Whitney U statistic, d = 2U / (n m) - 1.
            u = ss.mannwhitneyu(x, y).statistic
            assert pair.delta == pytest.approx(2 * u / (x.size * y.size) - 1, abs=1e-12)


def test_pinned_reference_figures(whitebox):
    comp = compare_cells(whitebox, [f"resnet:{c}@edge" for c in ("identity", "sptq", "qat", "prune", "distill",
                                                                   "distill+sptq")], p_adjust="none")
    assert comp.kruskal.h == pytest.approx(1921.1944149554208, rel=1e-12)
    pair = comp.pair("resnet:identity@edge", "resnet:sptq@edge")
    assert pair.conover_p == pytest.approx(8.50164352203248e-99, rel=1e-9)
    assert pair.delta == 0.576496 and pair.magnitude == "large"
    assert comp.fastest() == "resnet:distill+sptq@edge"
    assert comp.pair("resnet:identity@edge", "resnet:distill@edge").delta == 1.0


def test_holm_adjustment_only_raises_p(whitebox):
    cells = [f"bert:{c}@cloud" for c in ("identity", "sptq", "prune")]
    raw, holm = compare_cells(whitebox, cells, "none"), compare_cells(whitebox, cells, "holm")
    for a, b in zip(raw.pairs, holm.pairs):
        assert b.adjusted_p >= a.conover_p
        assert b.ratio_ci.contains(b.ratio)


def test_findings_link_to_comparisons(whitebox):
    analyses = default_analyses(whitebox)
    found = findings(whitebox, analyses)
    ids = {c.id for c in analyses.comparisons}
    assert found and all(set(f.refs) <= ids for f in found)
    texts = [f.text for f in found]
    assert any(t.startswith("On edge, distill+sptq is the fastest chain for 4 of 4 subjects") for t in texts)
    summary = next(s for s in analyses.speedup_summaries if (s.chain, s.placement) == ("distill+sptq", "edge"))
    assert summary.minimum > 2.5 and summary.maximum > 8.0
