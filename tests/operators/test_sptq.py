"""SPTQ on the tiny subjects: what it quantizes, what it records, what it refuses."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgewise.building.artifacts import ArtifactCache
from edgewise.errors import ConfigError
from edgewise.operators import get_operator
from edgewise.operators.chain import build_step, root_artifact
from edgewise.operators.sptq import CalibrationReader
from edgewise.operators.sptq_candidates import Candidate, Judge, Outcome, better, candidate_space, close_call
from edgewise.tiers.sessions import make_session
from tests.operators.helpers import evaluate, make_ctx_factory


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return ArtifactCache(tmp_path_factory.mktemp("sptq-artifacts"))


def _build(subject, cache, **params):
    root = root_artifact(subject, cache, log=lambda m: None)
    params = {"latency_runs": 5, "search_runs": 3, **params}
    return root, build_step(get_operator("sptq", params), root, cache, make_ctx_factory(subject, None))


def test_cnn_is_quantized_per_channel_to_integer_kernels(tiny_cnn, cache):
    _, art = _build(tiny_cnn, cache, search=False)
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


def test_transformer_quantizes_only_weight_matmuls_first(tiny_bert, cache):
    root, art = _build(tiny_bert, cache, search=False)
    assert set(art.meta["quantized_nodes"]) >= {"MatMul"}
    assert not {"Softmax", "Add", "Where"} & set(art.meta["quantized_nodes"])
    assert art.meta["op_types"] == ["MatMul"] and art.meta["format"] == "qdq" and art.meta["graph"] == "plain"
    assert len(art.meta["candidates"]) == 1
    drop = evaluate(root.parts, tiny_bert)["accuracy"] - evaluate(art.parts, tiny_bert)["accuracy"]
    assert drop <= 0.03


def _requantized_matmuls(model) -> int:
    """MatMul/Gemm nodes whose output is quantized again."""
    consumers = {i for n in model.graph.node if n.op_type == "QuantizeLinear" for i in n.input[:1]}
    return sum(n.op_type in ("MatMul", "Gemm") and n.output[0] in consumers for n in model.graph.node)


def test_transformer_matmul_outputs_stay_float_unless_asked(tiny_bert, cache):
    _, art = _build(tiny_bert, cache, search=False)
    assert art.meta["requantized_outputs"] is False
    assert _requantized_matmuls(onnx.load(str(art.onnx))) == 0
    _, requantized = _build(tiny_bert, cache, requantize_outputs=True, search=False)
    assert requantized.meta["requantized_outputs"] is True
    assert _requantized_matmuls(onnx.load(str(requantized.onnx))) > 0


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_calibration_method_and_size_are_recorded(tiny_cnn, cache, method):
    _, art = _build(tiny_cnn, cache, calibration=method, calibration_size=20, search=False)
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
    op = get_operator("sptq", {"latency_runs": 3, "calibration_size": 10, "search": False})
    art = op.apply(root, _with_log(make(cache.staging()), logged))
    slower = art.meta["latency"]["speedup"] <= 1.0
    assert bool(art.meta["warnings"]) == slower
    assert bool(logged) == slower


@pytest.mark.parametrize("family", ["tiny_cnn", "tiny_bert"])
def test_search_keeps_the_fastest_accepted_candidate_and_says_why(family, cache, request):
    subject = request.getfixturevalue(family)
    root, art = _build(subject, cache)
    candidates, choice = art.meta["candidates"], art.meta["choice"]
    assert len(candidates) >= 3  # the first candidate and at least two single changes
    assert candidates[0]["verdict"] == "first candidate"
    assert all(c["verdict"].startswith(("kept", "rejected")) for c in candidates[1:])
    winner = [c for c in candidates if c["label"] == choice["label"]]
    assert winner and winner[-1]["accepted"] and "fastest" in choice["reason"]
    # Every accepted challenger that was kept was faster than its incumbent in the same run.
    for c in candidates[1:]:
        if c["verdict"].startswith("kept") and c["accepted"]:
            assert c["latency_ms"] < c["incumbent_ms"]
    # The choice is what was shipped.
    assert art.meta["format"] == choice["params"]["format"] and art.meta["per_channel"] == choice["params"]["per_channel"]
    drop = evaluate(root.parts, subject)[subject.metrics[0]] - evaluate(art.parts, subject)[subject.metrics[0]]
    assert drop <= 0.03


def test_speed_never_buys_accuracy_beyond_the_accepted_drop():
    first = Candidate("plain", "qdq", ("MatMul",), True, False, False, "minmax")
    incumbent = Outcome(first, latency_s=2.0, drop_points=0.5, accepted=True)
    lossy = Outcome(replace(first, format="qoperator"), latency_s=1.0, incumbent_s=2.0, drop_points=1.5, accepted=False)
    assert better(lossy, incumbent)[0] is False
    barely = Outcome(replace(first, per_channel=True), latency_s=1.98, incumbent_s=2.0, drop_points=0.0, accepted=True)
    assert better(barely, incumbent)[0] is False  # within the timing margin: the incumbent stays
    assert close_call(1.98, 2.0) and close_call(1.9, 2.0) and not close_call(1.8, 2.0) and not close_call(2.02, 2.0)
    confirmed = replace(barely, latency_s=1.96, timed_runs=90, retimed=True)  # 2 % faster over three times the runs
    assert better(confirmed, incumbent)[0] is True and better(replace(confirmed, retimed=False), incumbent)[0] is False
    rescue = Outcome(replace(first, calibration="entropy"), latency_s=3.0, incumbent_s=2.0, drop_points=0.2, accepted=True)
    assert better(rescue, Outcome(first, latency_s=2.0, drop_points=4.0, accepted=False))[0] is True


def _matmul_model(path, outputs: int) -> str:
    weight = np.random.default_rng(0).standard_normal((768, outputs)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "matmul",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 768])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, outputs])],
                              [onnx.numpy_helper.from_array(weight, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


def test_a_close_call_is_timed_again_and_a_clear_one_is_not(tmp_path):
    judge = Judge(build=lambda c, p: None, session=make_session, score=lambda s: 1.0,
                  feeds=[{"x": np.ones((1, 768), np.float32)}], runs=10, reference_metric=1.0, max_drop_points=1.0,
                  workdir=tmp_path, confirm_close_calls=True)
    narrow, wide = _matmul_model(tmp_path / "narrow.onnx", 8), _matmul_model(tmp_path / "wide.onnx", 768)
    assert [len(t) for t in judge.timed([make_session(narrow), make_session(wide)])] == [10, 10]  # ~1/50 the work
    seen = []
    for _ in range(12):  # two sessions of one model: about every second timing lands in the band
        times = judge.timed([make_session(wide), make_session(wide)])
        close = close_call(float(np.median(times[0][:10])), float(np.median(times[1][:10])))
        assert [len(t) for t in times] == ([30, 30] if close else [10, 10])
        seen.append(close)
    assert set(seen) == {True, False}


def test_fixed_parameters_are_not_searched():
    space = candidate_space(True, calibration="entropy", per_channel=True, op_types=None, requantize=None,
                            quant_format="qoperator", fuse=None, search=True)
    assert [name for name, _ in space.steps] == ["graph", "op_types"]
    assert space.first.format == "qoperator" and space.first.per_channel and space.calibrations == ()
    assert candidate_space(False, calibration=None, per_channel=None, op_types=None, requantize=None,
                           quant_format=None, fuse=None, search=False).steps == ()


def test_unknown_parameter_is_a_config_error():
    with pytest.raises(ConfigError, match="calibraton"):
        get_operator("sptq", {"calibraton": "minmax"})


def _with_log(ctx, sink):
    ctx.log = sink.append
    return ctx


def _init(model, name):
    return next(t for t in model.graph.initializer if t.name == name)


def test_candidates_that_share_a_calibration_calibrate_once(tiny_cnn, tmp_path):
    """Ranges depend on the graph, the method and the observed op types only: a candidate quantized
    from another's kept ranges is the model a fresh calibration gives, and one ranges file serves both."""
    from edgewise.operators.int8_search import Prepared
    from edgewise.operators.sptq import build_candidate

    root = root_artifact(tiny_cnn, ArtifactCache(tmp_path / "cache"), log=lambda m: None)
    calibration = tiny_cnn.splits().calibration.take(16)
    first = Candidate("plain", "qdq", None, False, True, True, "minmax")
    second = replace(first, format="qoperator", per_channel=False)
    shared = Prepared(root.onnx, tmp_path / "shared", calibration.batch(slice(0, 1)))
    fresh = Prepared(root.onnx, tmp_path / "fresh", calibration.batch(slice(0, 1)))
    build_candidate(shared, calibration, first, tmp_path / "first.onnx")
    build_candidate(shared, calibration, second, tmp_path / "second-shared.onnx")
    build_candidate(fresh, calibration, second, tmp_path / "second-fresh.onnx")
    assert [p.name for p in (tmp_path / "shared" / "ranges").iterdir()] == ["plain-minmax-all.json"]
    shared_model, fresh_model = (onnx.load(str(tmp_path / f"second-{k}.onnx")) for k in ("shared", "fresh"))
    assert shared_model.graph == fresh_model.graph
