"""SPTQ on the tiny subjects: what it quantizes, what it records, what it refuses."""

from __future__ import annotations

import onnx
import pytest

from edgewise.artifacts import ArtifactCache
from edgewise.errors import ConfigError
from edgewise.operators import get_operator
from edgewise.operators.chain import build_step, root_artifact
from edgewise.operators.sptq import CalibrationReader
from tests.operators.helpers import evaluate, make_ctx_factory


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return ArtifactCache(tmp_path_factory.mktemp("sptq-artifacts"))


def _build(subject, cache, **params):
    root = root_artifact(subject, cache, log=lambda m: None)
    return root, build_step(get_operator("sptq", {"latency_runs": 5, **params}), root, cache, make_ctx_factory(subject, None))


def test_cnn_is_quantized_per_channel_to_integer_kernels(tiny_cnn, cache):
    _, art = _build(tiny_cnn, cache)
    model = onnx.load(str(art.onnx))
    ops = [n.op_type for n in model.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    assert art.meta["quantized_nodes"]["Conv"] == 3
    assert art.meta["calibration"] == {"method": "minmax", "size": 100}
    weight_scales = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and "weight" in n.input[0]]
    assert any(onnx.numpy_helper.to_array(_init(model, n.input[1])).size > 1 for n in weight_scales)  # per channel
    assert art.meta["latency"]["fp32_ms"] > 0 and art.meta["latency"]["int8_ms"] > 0
    assert isinstance(art.meta["warnings"], list)
    assert art.capabilities == frozenset({"onnx"})


def test_transformer_quantizes_only_matmul_and_gemm(tiny_bert, cache):
    root, art = _build(tiny_bert, cache)
    assert set(art.meta["quantized_nodes"]) >= {"MatMul"}
    assert not {"Softmax", "Add", "Where"} & set(art.meta["quantized_nodes"])
    assert art.meta["op_types"] == ["MatMul", "Gemm"]
    drop = evaluate(root.parts, tiny_bert)["accuracy"] - evaluate(art.parts, tiny_bert)["accuracy"]
    assert drop <= 0.03


def _requantized_matmuls(model) -> int:
    """MatMul/Gemm nodes whose output is quantized again."""
    consumers = {i for n in model.graph.node if n.op_type == "QuantizeLinear" for i in n.input[:1]}
    return sum(n.op_type in ("MatMul", "Gemm") and n.output[0] in consumers for n in model.graph.node)


def test_transformer_matmul_outputs_stay_float_unless_asked(tiny_bert, cache):
    _, art = _build(tiny_bert, cache)
    assert art.meta["requantized_outputs"] is False
    assert _requantized_matmuls(onnx.load(str(art.onnx))) == 0
    _, requantized = _build(tiny_bert, cache, requantize_outputs=True)
    assert requantized.meta["requantized_outputs"] is True
    assert _requantized_matmuls(onnx.load(str(requantized.onnx))) > 0


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_calibration_method_and_size_are_recorded(tiny_cnn, cache, method):
    _, art = _build(tiny_cnn, cache, calibration=method, calibration_size=20)
    assert art.meta["calibration"] == {"method": method, "size": 20}
    assert evaluate(art.parts, tiny_cnn)["top1"] >= 0.9


def test_calibration_reader_reads_each_sample_once(tiny_cnn):
    split = tiny_cnn.splits().calibration.take(3)
    reader = CalibrationReader(split, ["pixel_values"])
    seen = [reader.get_next() for _ in range(4)]
    assert [s is None for s in seen] == [False, False, False, True]
    assert seen[0]["pixel_values"].shape == (1, 1, 16, 16)


def test_a_slower_int8_model_warns_in_the_log(tiny_cnn, cache):
    logged: list[str] = []
    root = root_artifact(tiny_cnn, cache, log=lambda m: None)
    make = make_ctx_factory(tiny_cnn, None)
    op = get_operator("sptq", {"latency_runs": 3, "calibration_size": 10})
    art = op.apply(root, _with_log(make(cache.staging()), logged))
    slower = art.meta["latency"]["speedup"] <= 1.0
    assert bool(art.meta["warnings"]) == slower
    assert bool(logged) == slower


def test_unknown_parameter_is_a_config_error():
    with pytest.raises(ConfigError, match="calibraton"):
        get_operator("sptq", {"calibraton": "minmax"})


def _with_log(ctx, sink):
    ctx.log = sink.append
    return ctx


def _init(model, name):
    return next(t for t in model.graph.initializer if t.name == name)
