"""Reading stored profiles: a tier's figures are the host's over its speed; an int8 cell meets its float
counterpart per operator family."""

from __future__ import annotations

import copy

import pytest

from edgewise.analysis import ResultSet
from edgewise.analysis.profiles import family, float_counterpart, profile_view
from tests.analysis.conftest import synthetic_results


def _profile(by_type: dict[str, float], nodes: list[tuple[str, str, float]], parts: int = 1) -> dict:
    part = {"threads": 1, "run_ms": sum(by_type.values()) * 1.1, "by_type": by_type,
            "nodes": [{"name": n, "op_type": t, "ms": ms} for n, t, ms in nodes], "node_count": len(nodes)}
    return {"runtime": "onnxruntime", "runs": 10, "parts": [part] * parts, "notes": []}


@pytest.fixture(scope="module")
def results() -> ResultSet:
    data = copy.deepcopy(synthetic_results())
    data["study"]["testbed"] = {"tiers": {"edge": {"speed": 0.5}, "mobile": {"speed": 0.25}}}
    data["study"]["chains"] = {"identity": {"int8": False}, "sptq": {"int8": True}, "distill": {"int8": False},
                               "prune": {"int8": False}, "distill+sptq": {"int8": True},
                               "partition": {"int8": False}, "sptq+partition": {"int8": True}}
    fp32 = _profile({"FusedConv": 4.0, "Gemm": 0.2}, [("/c1/Conv", "FusedConv", 3.0), ("/fc", "Gemm", 0.2)])
    int8 = _profile({"QLinearConv": 1.0, "QuantizeLinear": 0.1, "QGemm": 0.3},
                    [("/c1/Conv_token_1", "QLinearConv", 0.8), ("/fc_quant", "QGemm", 0.3)])
    for cell in data["cells"]:
        cell["profile"] = {"identity": fp32, "sptq": int8}.get(cell["chain"])
    edge_sptq = next(c for c in data["cells"] if c["cell"] == "cnn:sptq@edge")
    for chain, prof in (("partition", _profile({"Conv": 2.0}, [], parts=2)),
                        ("sptq+partition", _profile({"QLinearConv": 0.5}, [], parts=2))):
        data["cells"].append({**copy.deepcopy(edge_sptq), "cell": f"cnn:{chain}@mobile-edge", "chain": chain,
                              "placement": "mobile-edge", "profile": prof})
    return ResultSet.from_dict(data)


def test_a_tier_figure_is_the_host_figure_over_the_tier_speed(results):
    view = profile_view(results, results.cell("cnn:identity@edge"))
    assert view.profile.by_type()["FusedConv"] == pytest.approx(8.0)  # 4 ms on the host, speed 0.5
    (op, ms, share), *_ = view.top_types()
    assert (op, ms) == ("FusedConv", pytest.approx(8.0)) and share == pytest.approx(4.0 / 4.2)
    split = profile_view(results, results.cell("cnn:partition@mobile-edge"))
    assert split.profile.by_type()["Conv"] == pytest.approx(2.0 / 0.25 + 2.0 / 0.5)  # head on mobile, tail on edge


def test_int8_kernels_meet_the_float_kernels_they_replace(results):
    view = profile_view(results, results.cell("cnn:sptq@edge"))
    assert view.baseline_cell == "cnn:identity@edge"
    rows = {f.family: f for f in view.families}
    assert rows["Conv"].fp32_ms == pytest.approx(8.0) and rows["Conv"].int8_ms == pytest.approx(2.0)
    assert rows["Conv"].ratio == pytest.approx(4.0) and rows["Conv"].kernels == ("QLinearConv",)
    assert rows["int8 conversions"].ratio is None  # only the int8 graph converts
    assert rows["Gemm"].ratio == pytest.approx(0.2 / 0.3)
    assert family("NhwcMaxPool") == "MaxPool" and family("MatMulIntegerToFloat") == "MatMul"


def test_the_float_counterpart_is_the_chain_without_its_int8_link(results):
    def counterpart(name):
        found = float_counterpart(results, results.cell(name))
        return found.name if found else None

    assert counterpart("cnn:sptq@edge") == "cnn:identity@edge"
    assert counterpart("cnn:sptq+partition@mobile-edge") == "cnn:partition@mobile-edge"
    assert counterpart("cnn:prune@edge") is None  # not int8: nothing to compare with
    assert profile_view(results, results.cell("cnn:prune@edge")) is None  # no profile stored


def test_why_weighs_what_an_operator_acts_on_against_the_latency(results):
    """sptq acts on the linear layers; distill on the whole model. The float model's profile on the edge says
    how much of its time they are; the identity cell's median says how much of the latency the model is."""
    import numpy as np

    from edgewise.analysis.why import why

    data = results.to_dict()
    data["study"]["chains"]["sptq"]["acts_on"] = ["Conv", "ConvTranspose", "Gemm", "MatMul"]
    data["study"]["chains"]["distill"]["acts_on"] = ["*"]
    data["study"]["chains"]["prune"]["acts_on"] = []  # an operator that declares nothing is not weighed
    found = {w.cell: w for w in why(ResultSet.from_dict(data))}
    identity = results.cell("cnn:identity@edge")
    model_s = 4.2 * 1.1 / 0.5 / 1e3  # the profile's run on the host, over the edge's speed
    latency_share = model_s / float(np.median(identity.latency_s))
    sptq = found["cnn:sptq@edge"]
    assert sptq.model_share == pytest.approx((4.0 + 0.2) / 4.2)  # FusedConv and Gemm are linear layers
    assert sptq.latency_share == pytest.approx(min(1.0, latency_share))
    assert sptq.bound == pytest.approx(1 / (1 - sptq.model_share * sptq.latency_share))
    assert found["cnn:distill@edge"].model_share == 1.0
    assert "cnn:prune@edge" not in found and "cnn:identity@edge" not in found
    assert "acts on" in sptq.text() and "at most" in sptq.text()
