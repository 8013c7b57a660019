"""DPTQ: dynamic int8 on tiny-bert and on an ELECTRA classifier (a family no built-in subject uses)."""

from __future__ import annotations

import onnx
import pytest

from edgewise.building.artifacts import ArtifactCache
from edgewise.operators import get_operator
from edgewise.operators.chain import Chain, build_chain, build_step, root_artifact
from edgewise.operators.dptq import DptqParams, dynamic_space
from edgewise.subjects import SubjectContext
from edgewise.subjects.user import make_subject
from edgewise.testing import families
from tests.operators.helpers import evaluate, make_ctx_factory

FAST = {"latency_runs": 5, "search_runs": 3}
# What the int8 graph is made of: speed control, which may rightly leave every node of a model this small
# in float, off (the ELECTRA test below keeps it on).
INT8_GRAPH = {**FAST, "speed_control": False}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return ArtifactCache(tmp_path_factory.mktemp("dptq-artifacts"))


def _drop(root, art, subject) -> float:
    metric = subject.metrics[0]
    return evaluate(root.parts, subject)[metric] - evaluate(art.parts, subject)[metric]


def test_transformer_weights_are_int8_and_activations_quantized_per_request(tiny_bert, cache):
    root = root_artifact(tiny_bert, cache, log=lambda m: None)
    art = build_step(get_operator("dptq", INT8_GRAPH), root, cache, make_ctx_factory(tiny_bert, None))
    model = onnx.load(str(art.onnx))
    ops = {n.op_type for n in model.graph.node}
    assert "DynamicQuantizeLinear" in ops and art.meta["conversion_nodes"]["DynamicQuantizeLinear"] >= 1
    assert art.meta["quantized_nodes"].get("MatMulInteger", 0) + art.meta["quantized_nodes"].get("QAttention", 0) > 0
    assert not any(i.data_type == onnx.TensorProto.FLOAT and "MatMul" in i.name and i.name.endswith("_quantized")
                   for i in model.graph.initializer)  # quantized weights are int8 tensors
    assert art.meta["weight_type"] == "int8" and art.meta["activations"] == "dynamic"
    assert art.meta["latency"]["fp32_ms"] > 0 and art.meta["candidates"][0]["verdict"] == "first candidate"
    assert "calibration" not in art.meta  # nothing is calibrated
    assert art.capabilities == frozenset({"onnx"})
    assert _drop(root, art, tiny_bert) <= 0.03


def test_distill_then_dptq_is_a_chain(tiny_bert, cache):
    chain = Chain.parse("distill+dptq")
    assert chain.facts()["int8"] and chain.facts()["kind"] == "white"
    art = build_chain(chain, tiny_bert, cache, make_ctx_factory(tiny_bert, None), params={"dptq": INT8_GRAPH},
                      log=lambda m: None)
    assert art.chain == ("distill", "dptq") and art.meta["quantized_nodes"]


def test_dptq_after_dptq_is_refused_at_plan_time():
    from edgewise.errors import PlanError
    from edgewise.operators.chain import ONNX_START

    with pytest.raises(PlanError, match="already int8"):
        Chain.parse("dptq+dptq").check(ONNX_START)
    with pytest.raises(PlanError, match="already int8"):
        Chain.parse("sptq+dptq").check(ONNX_START)


def test_the_space_searches_what_the_user_left_open():
    open_space = dynamic_space(True, DptqParams())
    assert [name for name, _ in open_space.steps] == ["graph", "per_channel"]
    assert open_space.first.op_types == ("MatMul",) and open_space.first.calibration == "dynamic"
    fixed = dynamic_space(True, DptqParams(fuse=False, per_channel=True))
    assert fixed.steps == () and fixed.first.per_channel
    cnn = dynamic_space(False, DptqParams())
    assert cnn.first.op_types == ("Conv", "MatMul") and [n for n, _ in cnn.steps] == ["op_types", "per_channel"]


def test_an_electra_classifier_keeps_its_accuracy_in_dynamic_int8(tmp_path):
    family = families.hf_text_family("electra", tmp_path)
    subject = make_subject(family.subject, SubjectContext(cache_dir=tmp_path / "cache", log=lambda m: None))
    cache = ArtifactCache(tmp_path / "artifacts")
    root = root_artifact(subject, cache, log=lambda m: None)
    art = build_step(get_operator("dptq", FAST), root, cache, make_ctx_factory(subject, None))
    # The two layers' projections and feed-forwards: each in int8, or left in float where int8 did not pay
    # on a model this small (speed control), with the reason recorded.
    kept_float = art.meta["nodes"]["kept_float"]
    assert sum(art.meta["quantized_nodes"].values()) + len(kept_float) >= 4, (art.meta["quantized_nodes"], kept_float)
    assert all(k["reason"] in ("speed", "accuracy") and k["why"] for k in kept_float), kept_float
    assert art.meta["quantized_nodes"] or art.meta["warnings"]  # no int8 at all is said
    assert _drop(root, art, subject) <= 0.02
