"""The SLA answer on a synthetic study (known truth) and on both reference files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from edgewise.analysis import load_results, recommend
from edgewise.analysis.results import ResultSet
from edgewise.commands import analyze as analyze_command
from edgewise.commands import recommend as recommend_command
from edgewise.errors import ConfigError

from .conftest import BLACKBOX, WHITEBOX, synthetic_results


def test_results_json_round_trip(study_dir):
    rs = load_results(study_dir)
    again = ResultSet.from_dict(json.loads(json.dumps(rs.to_dict())))
    assert again.names == rs.names
    assert again.cell("cnn:sptq@edge").correct.sum() == rs.cell("cnn:sptq@edge").correct.sum()


def test_recommend_on_study(study_dir):
    rs = load_results(study_dir)
    rec = recommend(rs, max_latency_ms=50, percentile=95, max_accuracy_drop=1.0)
    by_cell = {v.cell: v for v in rec.verdicts}
    assert rec.best("cnn").cell == "cnn:sptq@edge"  # distill is faster but drops 6 points
    assert by_cell["cnn:distill@edge"].status == "fails"
    assert any("accuracy drop" in r for r in by_cell["cnn:distill@edge"].reasons)
    assert by_cell["cnn:sptq@edge"].accuracy_drop.paired is not None
    assert by_cell["cnn:identity@cloud"].status == "fails"  # did not fit
    assert by_cell["cnn:prune@edge"].no_significant_speedup is True
    assert by_cell["cnn:sptq@edge"].no_significant_speedup is False
    mobile = by_cell["cnn:sptq@mobile"]
    assert mobile.latency.percentile == 50 and any("judged on p50" in n for n in mobile.notes)
    assert any("insufficient samples for p95 (n=20 < 130)" in n for n in mobile.notes)
    # With 200 samples the SLA's p95 is judged on MLPerf's early-stopping bound, and the verdict says which.
    edge = by_cell["cnn:sptq@edge"]
    assert edge.latency.percentile == 95 and not any("judged on" in n for n in edge.notes)
    assert edge.latency.bound.order_index == 198 and edge.latency.bound.n == 200
    described = edge.latency.describe()
    assert "upper bound" in described and "order statistic 198 of 200, 99% confidence" in described
    assert "judged at p95 for 4 of 8 cells" in rec.judged_on() and "judged at p50" in rec.judged_on()
    assert "cnn:distill@edge" in rec.pareto("cnn")
    ranked = [v.status for v in rec.ranked("cnn")]
    assert ranked == sorted(ranked, key=["meets", "borderline", "fails"].index)


def test_recommend_filters_placements_and_rejects_bad_input(study_dir):
    rs = load_results(study_dir)
    rec = recommend(rs, 500, placements=["mobile"])
    assert {v.placement for v in rec.verdicts} == {"mobile"}
    with pytest.raises(ConfigError):
        recommend(rs, 50, placements=["moon"])
    with pytest.raises(ConfigError):
        recommend(rs, 50, percentile=97)


def test_recommend_on_reference(whitebox, blackbox):
    rec = recommend(whitebox, max_latency_ms=2000, max_accuracy_drop=1.0)
    assert rec.best("bert") is not None and rec.best("resnet") is None
    assert all(v.accuracy_drop is None or v.accuracy_drop.paired is None for v in rec.verdicts)
    black = recommend(blackbox, max_latency_ms=3000, max_accuracy_drop=1.0, placements=["edge", "mobile-edge"])
    assert json.dumps(black.to_dict())


def _app() -> typer.Typer:
    app = typer.Typer()
    analyze_command.register(app)
    recommend_command.register(app)
    return app


@pytest.mark.parametrize("path", [WHITEBOX, BLACKBOX, "study"])
def test_cli_text_and_json(path, study_dir, whitebox):
    target = str(study_dir if path == "study" else path)
    runner = CliRunner()
    out = runner.invoke(_app(), ["recommend", target, "--max-latency-ms", "2000", "--json"])
    assert out.exit_code == 0, out.output
    assert "subjects" in json.loads(out.output)
    out = runner.invoke(_app(), ["recommend", target, "--max-latency-ms", "2000", "--percentile", "90"])
    assert out.exit_code == 0 and "p90" in out.output
    out = runner.invoke(_app(), ["analyze", target, "--json", "--p-adjust", "none"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["findings"]


def test_cli_analyze_explicit_cells(study_dir):
    out = CliRunner().invoke(_app(), ["analyze", str(study_dir), "--cells", "cnn:identity@edge,cnn:sptq@edge"],
                             env={"COLUMNS": "300"})
    assert out.exit_code == 0 and "cnn:sptq@edge faster than cnn:identity@edge" in out.output


def test_an_accuracy_drop_exactly_at_the_bound_does_not_exceed_it():
    """40 of 2,000 samples lost is a drop of 2 points, which floating point computes as 2.0000000000000018."""
    data = synthetic_results()
    for cell in data["cells"]:
        if cell["cell"] in ("cnn:identity@edge", "cnn:distill@edge"):
            cell["accuracy"] = {"top1": 0.888 if cell["chain"] == "identity" else 0.868}
            cell["correct"] = None  # judged on the value alone, without a CI
    rs = ResultSet.from_dict(data)
    verdict = next(v for v in recommend(rs, 50, max_accuracy_drop=2.0).verdicts if v.cell == "cnn:distill@edge")
    assert verdict.accuracy_drop.drop_points > 2.0
    assert not any("accuracy drop" in r for r in verdict.reasons), verdict.reasons


def _tie(a, b) -> bool:
    return a.low <= b.high and b.low <= a.high


def test_a_tie_in_the_tail_goes_to_the_more_accurate_cell():
    """Two cells a measurement cannot tell apart at p95 or at the median (their CIs overlap): whichever is
    faster in this run, the recommendation is the one that loses less accuracy, which a second run cannot
    reorder."""
    from .conftest import _cell

    rng = np.random.default_rng(3)
    base = rng.random(2000) < 0.9
    lossy = base.copy()
    lossy[np.flatnonzero(base)[:8]] = False  # 0.4 points lost
    for faster_is_lossy in (True, False):
        cells = [_cell("m", "identity", "edge", 40.0, 200, base, rng),
                 _cell("m", "qat", "edge", 20.0 if faster_is_lossy else 20.4, 200, lossy, rng),
                 _cell("m", "sptq", "edge", 20.4 if faster_is_lossy else 20.0, 200, base, rng)]
        rs = ResultSet.from_dict({**synthetic_results(), "cells": cells})
        rec = recommend(rs, max_latency_ms=50, percentile=95, max_accuracy_drop=1.0)
        qat, sptq = (next(v for v in rec.verdicts if v.cell == f"m:{c}@edge") for c in ("qat", "sptq"))
        assert _tie(qat.latency.ci, sptq.latency.ci) and _tie(qat.median_ci, sptq.median_ci)
        assert rec.best("m").cell == "m:sptq@edge"
    # As fast and as accurate (one artifact on two tiers): the nearer placement, whichever is faster this run.
    for edge_ms in (20.0, 20.4):
        cells = [_cell("m", "identity", "edge", 40.0, 200, base, rng), _cell("m", "qat", "edge", edge_ms, 200, base, rng),
                 _cell("m", "qat", "cloud", 40.4 - edge_ms, 200, base, rng)]
        rec = recommend(ResultSet.from_dict({**synthetic_results(), "cells": cells}), 50, 95, 1.0)
        edge, cloud = (next(v for v in rec.verdicts if v.cell == f"m:qat@{t}") for t in ("edge", "cloud"))
        assert _tie(edge.latency.ci, cloud.latency.ci) and _tie(edge.median_ci, cloud.median_ci)
        assert rec.best("m").cell == "m:qat@edge"
    # A cell clearly faster is recommended even when it loses more (within the bound).
    cells = [_cell("m", "identity", "edge", 40.0, 200, base, rng), _cell("m", "qat", "edge", 10.0, 200, lossy, rng),
             _cell("m", "sptq", "edge", 20.0, 200, base, rng)]
    rec = recommend(ResultSet.from_dict({**synthetic_results(), "cells": cells}), 50, 95, 1.0)
    assert rec.best("m").cell == "m:qat@edge"


def test_a_tie_in_the_tail_goes_to_the_cell_faster_in_the_typical_request():
    """Two cells with the same tail (a slow link's bursts, say), one much faster in the median: whichever
    comes first at p95 in this run, the recommendation is the one the median tells apart, even when it
    loses more accuracy or travels farther; so too when their tails are apart by less than TAIL_TIE."""
    from .conftest import _cell

    rng = np.random.default_rng(5)
    base = rng.random(2000) < 0.9
    lossy = base.copy()
    lossy[np.flatnonzero(base)[:8]] = False
    tail = rng.normal(30.0, 0.4, 20)  # the slowest tenth: a tail both share
    for offset_ms in (-0.05, 0.05):  # the typical cell first at p95, then second
        typical = _cell("m", "qat", "cloud", 20.0, 200, lossy, rng)
        slow = _cell("m", "sptq", "edge", 27.0, 200, base, rng)
        for cell, body_ms, tail_ms in ((typical, 20.0, tail + offset_ms), (slow, 27.0, tail)):
            latency = np.concatenate([rng.normal(body_ms, 0.5, 180), tail_ms]) / 1e3
            cell["latency_s"] = rng.permutation(latency).tolist()
        cells = [_cell("m", "identity", "edge", 40.0, 200, base, rng), typical, slow]
        rec = recommend(ResultSet.from_dict({**synthetic_results(), "cells": cells}), 50, 95, 1.0)
        fast, other = (next(v for v in rec.verdicts if v.cell == c) for c in ("m:qat@cloud", "m:sptq@edge"))
        assert _tie(fast.latency.ci, other.latency.ci) and not _tie(fast.median_ci, other.median_ci)
        assert rec.ranked("m")[0].cell == ("m:qat@cloud" if offset_ms < 0 else "m:sptq@edge")
        assert rec.best("m").cell == "m:qat@cloud"
    # Tails apart beyond their CIs: within TAIL_TIE a second run may still order them the other way (a tie,
    # which the median decides); beyond it, the faster tail is the answer.
    for gap, best in ((0.05, "m:qat@cloud"), (0.15, "m:sptq@edge")):
        typical = _cell("m", "qat", "cloud", 20.0, 200, lossy, rng)
        slow = _cell("m", "sptq", "edge", 25.0, 200, base, rng)
        for cell, body_ms, tail_ms in ((typical, 20.0, 30.0 * (1 + gap)), (slow, 25.0, 30.0)):
            latency = np.concatenate([rng.normal(body_ms, 0.5, 180), rng.normal(tail_ms, 0.1, 20)]) / 1e3
            cell["latency_s"] = rng.permutation(latency).tolist()
        cells = [_cell("m", "identity", "edge", 40.0, 200, base, rng), typical, slow]
        rec = recommend(ResultSet.from_dict({**synthetic_results(), "cells": cells}), 50, 95, 1.0)
        fast, other = (next(v for v in rec.verdicts if v.cell == c) for c in ("m:qat@cloud", "m:sptq@edge"))
        assert not _tie(fast.latency.ci, other.latency.ci)
        assert rec.best("m").cell == best, gap
