"""Model size and serving memory in the SLA: judged per part on its tier, beside latency and accuracy."""

from __future__ import annotations

import copy

import pytest

from edgewise.analysis import ResultSet, recommend
from edgewise.analysis.footprint import footprint
from edgewise.errors import ConfigError
from edgewise.sla import Sla
from tests.analysis.conftest import synthetic_results

# Serving memory per chain (one part each): distill is the smallest, identity the largest.
_MEMORY = {"identity": (9.0, 160.0), "sptq": (2.5, 110.0), "distill": (1.0, 90.0), "prune": (5.0, 130.0)}


def _with_memory(data: dict) -> dict:
    data = copy.deepcopy(data)
    for cell in data["cells"]:
        model_mb, peak = _MEMORY[cell["chain"]]
        cell["memory"] = {"parts": [{"model_mb": model_mb, "baseline_rss_mb": 70.0, "peak_rss_mb": peak,
                                     "threads": 1}], "inputs": 5}
    return data


@pytest.fixture(scope="module")
def results():
    return ResultSet.from_dict(_with_memory(synthetic_results()))


def test_a_cell_that_meets_latency_fails_on_memory(results):
    loose = recommend(results, max_latency_ms=50, max_accuracy_drop=1.0)
    sptq = next(v for v in loose.ranked("cnn") if v.cell == "cnn:sptq@edge")
    assert sptq.status == "meets" and loose.best("cnn").cell == "cnn:sptq@edge"
    tight = recommend(results, max_latency_ms=50, max_accuracy_drop=1.0, max_memory_mb=100)
    sptq = next(v for v in tight.ranked("cnn") if v.cell == "cnn:sptq@edge")
    assert sptq.latency is not None and sptq.latency.bound.value * 1e3 <= 50  # latency alone would meet
    assert sptq.status == "fails" and sptq.memory_mb == 110.0
    assert any("peak memory 110 MB on edge exceeds 100 MB" in r for r in sptq.reasons)
    # distill fits the memory but not the accuracy drop: nothing on edge meets both, so none is recommended there.
    assert tight.best("cnn") is None or tight.best("cnn").memory_mb <= 100
    assert tight.to_dict()["sla"]["max_memory_mb"] == 100


def test_the_recommendation_respects_model_size_and_memory_together(results):
    rec = recommend(results, max_latency_ms=500, max_accuracy_drop=10.0, max_model_mb=3, max_memory_mb=120)
    best = rec.best("cnn")
    assert best is not None and best.model_mb <= 3 and best.memory_mb <= 120
    for v in rec.ranked("cnn"):
        if v.status == "meets":
            assert v.model_mb <= 3 and v.memory_mb <= 120
    prune = next(v for v in rec.ranked("cnn") if v.cell == "cnn:prune@edge")
    assert prune.status == "fails" and any("model 5.0 MB on edge exceeds 3 MB" in r for r in prune.reasons)


def test_without_memory_figures_a_bound_makes_the_verdict_borderline():
    bare = ResultSet.from_dict(synthetic_results())  # an older results.json: artifact bytes, no memory probe
    rec = recommend(bare, max_latency_ms=500, max_accuracy_drop=10.0, max_memory_mb=1000, max_model_mb=1)
    sptq = next(v for v in rec.ranked("cnn") if v.cell == "cnn:sptq@edge")
    assert sptq.status == "borderline" and "serving memory not measured" in sptq.reasons
    assert sptq.model_mb == pytest.approx(1000 / 2**20)  # the artifact's bytes stand for its size


def test_a_partition_is_judged_part_by_part_on_its_tiers():
    data = _with_memory(synthetic_results())
    cell = copy.deepcopy(next(c for c in data["cells"] if c["cell"] == "cnn:sptq@edge"))
    cell.update(cell="cnn:partition@mobile-edge", chain="partition", placement="mobile-edge",
                memory={"parts": [{"model_mb": 1.0, "baseline_rss_mb": 70, "peak_rss_mb": 80, "threads": 1},
                                  {"model_mb": 8.0, "baseline_rss_mb": 70, "peak_rss_mb": 140, "threads": 1}],
                        "inputs": 5})
    data["cells"].append(cell)
    rs = ResultSet.from_dict(data)
    parts = footprint(rs.cell("cnn:partition@mobile-edge"))
    assert [(p.tier, p.peak_memory_mb) for p in parts] == [("mobile", 80), ("edge", 140)]
    rec = recommend(rs, max_latency_ms=500, max_accuracy_drop=10.0, max_memory_mb=100)
    v = next(v for v in rec.ranked("cnn") if v.cell == "cnn:partition@mobile-edge")
    assert v.status == "fails" and v.reasons == ("peak memory 140 MB on edge exceeds 100 MB",)


def test_size_bounds_are_checked_and_stated():
    with pytest.raises(ConfigError, match="max_memory_mb"):
        Sla.of({}, max_memory_mb=0)
    sla = Sla.of({"sla": {"max_latency_ms": 20, "max_model_mb": 4}}, max_memory_mb=256)
    assert (sla.max_model_mb, sla.max_memory_mb) == (4, 256)
    assert "model ≤ 4 MB" in sla.describe() and "peak memory ≤ 256 MB per tier" in sla.describe()
    assert "max_model_mb" not in Sla().model_dump()  # unstated bounds leave a study's fingerprint as it was
