"""Partition: cuts on chains and DAGs, weights never on the wire, exact reproduction, the chosen cut."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgewise.building.artifacts import ArtifactCache
from edgewise.errors import ConfigError, PlanError
from edgewise.onnxgraph import GraphIndex, enumerate_cuts, validate_cut
from edgewise.operators import get_operator
from edgewise.operators.chain import Chain, build_chain, root_artifact
from tests.operators.helpers import make_ctx_factory, run_parts

FAST = {"max_candidates": 4, "profile_runs": 2}


def _residual_graph() -> onnx.ModelProto:
    """x -> a=Relu(x) -> b=Mul(a, w) -> c=Add(a, b) -> y=Relu(c): a skip connection around Mul."""
    w = numpy_helper.from_array(np.full((1, 4), 2.0, np.float32), "w")
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu_in"), helper.make_node("Mul", ["a", "w"], ["b"], name="mul"),
             helper.make_node("Add", ["a", "b"], ["c"], name="add"), helper.make_node("Relu", ["c"], ["y"], name="relu_out")]
    graph = helper.make_graph(nodes, "residual", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_cut_inside_a_residual_block_carries_the_skip_tensor():
    cuts = enumerate_cuts(GraphIndex.of(_residual_graph()), max_tensors=3)
    assert [c.tensors for c in cuts] == [("a",), ("a", "b"), ("c",)]


def test_a_cut_that_does_not_separate_the_graph_is_refused():
    index = GraphIndex.of(_residual_graph())
    with pytest.raises(ConfigError, match="does not separate"):
        validate_cut(index, ["b"])
    with pytest.raises(ConfigError, match="weight or constant"):
        validate_cut(index, ["w"])
    assert validate_cut(index, ["a", "b"]).tensors == ("a", "b")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return ArtifactCache(tmp_path_factory.mktemp("partition-artifacts"))


@pytest.mark.parametrize("placement", ["mobile-edge", "edge-cloud", "mobile-cloud"])
def test_auto_partition_reproduces_the_model_on_every_placement(tiny_cnn, cache, placement):
    art = build_chain(Chain.parse("partition"), tiny_cnn, cache, make_ctx_factory(tiny_cnn, placement),
                      params={"partition": FAST}, log=lambda m: None)
    root = root_artifact(tiny_cnn, cache)
    feeds = tiny_cnn.splits().evaluation.batch(slice(0, 16))
    np.testing.assert_allclose(run_parts(art.parts, feeds), run_parts(root.parts, feeds), atol=1e-5)
    head = onnx.load(str(art.parts[0]))
    assert [o.name for o in head.graph.output] == art.meta["cut"]
    estimate = art.meta["estimate"]
    assert estimate["total_s"] == pytest.approx(estimate["head_s"] + estimate["transfer_s"] + estimate["tail_s"])
    assert estimate["total_s"] == min(c["total_s"] for c in art.meta["candidates"])
    assert art.meta["placement"] == placement


def test_relayed_placement_pays_both_links(tiny_cnn, cache):
    art = build_chain(Chain.parse("partition"), tiny_cnn, cache, make_ctx_factory(tiny_cnn, "mobile-cloud"),
                      params={"partition": {**FAST, "cut": ["/inner/features/features.6/MaxPool_output_0"]}}, log=lambda m: None)
    assert art.meta["links"] == ["mobile->edge", "edge->cloud"]
    # 4096 bytes at 200 Mbit/s then at 1 Mbit/s, no delay in the paper-scaled preset.
    assert art.meta["estimate"]["transfer_s"] == pytest.approx(4096 * 8 / 200e6 + 4096 * 8 / 1e6)


def test_bert_cut_carries_hidden_states_and_mask(tiny_bert, cache):
    art = build_chain(Chain.parse("partition"), tiny_bert, cache, make_ctx_factory(tiny_bert, "mobile-edge"),
                      params={"partition": {**FAST, "cut": "/inner/model/bert/encoder/layer.0/output/LayerNorm"}},
                      log=lambda m: None)
    assert len(art.meta["cut"]) == 2
    feeds = tiny_bert.splits().evaluation.batch(slice(0, 8))
    root = root_artifact(tiny_bert, cache)
    np.testing.assert_allclose(run_parts(art.parts, feeds), run_parts(root.parts, feeds), atol=1e-5)


def test_quantized_graph_never_sends_weights(tiny_cnn, cache):
    art = build_chain(Chain.parse("sptq+partition"), tiny_cnn, cache, make_ctx_factory(tiny_cnn, "edge-cloud"),
                      params={"sptq": {"latency_runs": 2}, "partition": {**FAST, "max_candidates": 30}}, log=lambda m: None)
    tail = onnx.load(str(art.parts[1]))
    weights = {t.name for t in onnx.load(str(art.parts[0])).graph.initializer} | {t.name for t in tail.graph.initializer}
    for candidate in art.meta["candidates"]:
        assert not set(candidate["cut"]) & weights
        assert not any("weight" in t or "bias" in t for t in candidate["cut"])
    assert art.meta["verification"]["top1_agreement"] == 1.0


def test_int8_wire_shrinks_the_transfer(tiny_cnn, cache):
    cut = ["/inner/features/features.6/MaxPool_output_0"]
    plain, packed = (build_chain(Chain.parse("partition"), tiny_cnn, cache, make_ctx_factory(tiny_cnn, "mobile-edge"),
                                 params={"partition": {**FAST, "cut": cut, "compress": c}}, log=lambda m: None)
                     for c in ("none", "int8"))
    assert plain.meta["cut_bytes"] == 4096 and packed.meta["cut_bytes"] == 1024
    head = onnx.load(str(packed.parts[0]))
    assert head.graph.output[0].type.tensor_type.elem_type == TensorProto.INT8
    feeds = tiny_cnn.splits().evaluation.batch(slice(0, 64))
    assert (run_parts(packed.parts, feeds).argmax(1) == run_parts(plain.parts, feeds).argmax(1)).mean() >= 0.95


def test_partition_needs_a_two_tier_placement(tiny_cnn, cache):
    root = root_artifact(tiny_cnn, cache)
    with pytest.raises(PlanError, match="two-tier"):
        get_operator("partition").apply(root, make_ctx_factory(tiny_cnn, "edge")(cache.staging()))
