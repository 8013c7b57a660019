"""The artifact's facts right: which nodes of an int8 graph compute in int8, in QDQ and in operator format."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgewise.building.artifacts import ArtifactCache
from edgewise.onnxgraph.quantized import census, quantized_node_names
from edgewise.operators import get_operator
from edgewise.operators.chain import build_step, root_artifact
from edgewise.operators.int8_nodes import int8_nodes
from tests.operators.helpers import make_ctx_factory


def _qdq_graph(path) -> str:
    """x -> Q -> DQ -> Conv -> Q -> DQ -> ReduceMean -> Q -> DQ -> y: the Conv fuses to QLinearConv, the
    ReduceMean has no int8 kernel and runs in float between its conversions."""
    scale, zero = numpy_helper.from_array(np.float32(0.05), "s"), numpy_helper.from_array(np.uint8(128), "z")
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.int8), "w_q")
    w_scale, w_zero = numpy_helper.from_array(np.float32(0.01), "ws"), numpy_helper.from_array(np.int8(0), "wz")
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q_x"),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dq_x"),
             helper.make_node("DequantizeLinear", ["w_q", "ws", "wz"], ["wd"], name="dq_w"),
             helper.make_node("Conv", ["xd", "wd"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("QuantizeLinear", ["c", "s", "z"], ["cq"], name="q_c"),
             helper.make_node("DequantizeLinear", ["cq", "s", "z"], ["cd"], name="dq_c"),
             helper.make_node("ReduceMean", ["cd"], ["m"], name="mean", axes=[2, 3], keepdims=0),
             helper.make_node("QuantizeLinear", ["m", "s", "z"], ["mq"], name="q_m"),
             helper.make_node("DequantizeLinear", ["mq", "s", "z"], ["y"], name="dq_m")]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [scale, zero, w, w_scale, w_zero])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return str(path)


def test_qdq_nodes_count_as_int8_only_where_the_runtime_has_an_int8_kernel(tmp_path):
    facts = census(_qdq_graph(tmp_path / "qdq.onnx"))
    assert facts["quantized_nodes"] == {"Conv": 1}
    assert facts["float_nodes"] == {"ReduceMean": 1}
    assert facts["conversion_nodes"] == {"QuantizeLinear": 3, "DequantizeLinear": 4}


@pytest.mark.parametrize("quant_format", ["qoperator", "qdq"])
def test_a_transformer_in_either_format_counts_its_int8_matmuls(tiny_bert, tmp_path, quant_format):
    cache = ArtifactCache(tmp_path / "artifacts")
    root = root_artifact(tiny_bert, cache, log=lambda m: None)
    params = {"quant_format": quant_format, "search": False, "latency_runs": 2, "op_types": ["MatMul", "Gemm"]}
    art = build_step(get_operator("sptq", params), root, cache, make_ctx_factory(tiny_bert, None))
    quantized, floating = art.meta["quantized_nodes"], art.meta["float_nodes"]
    int8_ops = {op for op in quantized if op.startswith("QLinear") or op in ("QGemm", "MatMul", "Gemm")}
    assert int8_ops, quantized
    assert not {op for op in floating if op.startswith("QLinear") or op == "QGemm"}  # never an int8 kernel as float
    if quant_format == "qoperator":
        assert quantized.get("QLinearMatMul", 0) + quantized.get("QGemm", 0) > 0
        assert "MatMul" not in quantized


def test_int8_nodes_of_the_operator_format_are_found_by_their_float_names(tiny_cnn, tmp_path):
    """The operator format renames what it quantizes (Conv -> Conv_quant): node-level control needs the
    float graph's names to probe a node or leave it in float."""
    cache = ArtifactCache(tmp_path / "artifacts")
    root = root_artifact(tiny_cnn, cache, log=lambda m: None)
    params = {"quant_format": "qoperator", "search": False, "latency_runs": 2}
    art = build_step(get_operator("sptq", params), root, cache, make_ctx_factory(tiny_cnn, None))
    float_names = {n.name: n.op_type for n in onnx.load(str(root.onnx)).graph.node}
    found = int8_nodes(art.onnx, set(float_names))
    convs = sorted(name for name, op in float_names.items() if op == "Conv")
    assert art.meta["quantized_nodes"].get("QLinearConv") == len(convs) == 3
    assert set(convs) <= set(found) and set(found) <= set(float_names)
    assert not quantized_node_names(art.onnx) & set(convs)  # by their own names, none would be found
