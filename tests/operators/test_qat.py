"""QAT: fake-quantized fine-tuning ends in an int8 ONNX graph that ONNX Runtime runs on integer kernels."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from edgewise.building.artifacts import ArtifactCache
from edgewise.building.training import BF16, FP32, PRECISION_ENV, training_precision
from edgewise.errors import ConfigError
from edgewise.operators import get_operator
from edgewise.operators.chain import build_step, root_artifact
from edgewise.whitebox.measure import integer_kernels, optimized_op_counts
from edgewise.whitebox.quantize import FakeQuantLinear
from tests.operators.helpers import evaluate, make_ctx_factory


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> ArtifactCache:
    return ArtifactCache(tmp_path_factory.mktemp("qat-artifacts"))


def _build(subject, cache):
    root = root_artifact(subject, cache, log=lambda m: None)
    return root, build_step(get_operator("qat"), root, cache, make_ctx_factory(subject))


@pytest.mark.parametrize("subject_fixture, backend, kernel", [("tiny_cnn", "fx", "QLinearConv"),
                                                              ("tiny_bert", "linear", "MatMulIntegerToFloat")])
def test_int8_graph_runs_on_integer_kernels_within_one_point(subject_fixture, backend, kernel, cache, request):
    subject = request.getfixturevalue(subject_fixture)
    root, art = _build(subject, cache)
    assert art.meta["backend"] == backend
    assert art.meta["precision"] == training_precision("cpu")
    kernels = integer_kernels(optimized_op_counts(art.onnx))
    assert kernels.get(kernel, 0) >= 1 and kernels == art.meta["integer_kernels"]
    assert _int8_tensors(art.onnx), "weights are stored as int8"
    assert art.torch_module is None and art.capabilities == frozenset({"onnx"})
    metric = subject.metrics[0]
    assert evaluate(art.parts, subject)[metric] >= evaluate(root.parts, subject)[metric] - 0.01


def _int8_tensors(path) -> list[str]:
    """Names of int8 tensors stored in the graph, as initializers or Constant nodes."""
    graph = onnx.load(str(path)).graph
    found = [i.name for i in graph.initializer if i.data_type == onnx.TensorProto.INT8]
    for node in graph.node:
        if node.op_type == "Constant":
            found += [node.output[0] for a in node.attribute if a.t.data_type == onnx.TensorProto.INT8]
    return found


def test_fake_quantized_linear_stays_close_to_float_and_freezes():
    torch.manual_seed(0)
    linear = torch.nn.Linear(8, 4)
    fq = FakeQuantLinear(linear)
    x = torch.randn(16, 8)
    out = fq(x)
    assert torch.allclose(out, linear(x), atol=0.05)
    fq.apply(torch.ao.quantization.disable_observer)
    scale = fq.input_quant.scale.clone()
    fq(10 * torch.randn(16, 8))
    assert torch.equal(fq.input_quant.scale, scale), "frozen observers keep their scale"


def test_bad_parameters_name_the_field():
    with pytest.raises(ConfigError, match="backend"):
        get_operator("qat", {"backend": "tensorrt"})
    with pytest.raises(ConfigError, match="epochs"):
        get_operator("qat", {"epochs": 0})


def test_quick_schedule_is_recorded_and_overridable(tiny_cnn, tmp_path):
    root = root_artifact(tiny_cnn, ArtifactCache(tmp_path / "cache"), log=lambda m: None)
    op = get_operator("qat", {"epochs": 1, "iterations": 3, "freeze_observers_after": 1})
    art = op.apply(root, make_ctx_factory(tiny_cnn)(tmp_path))
    assert art.meta["schedule"]["epochs"] == 1 and art.meta["schedule"]["iterations"] == 3
    assert art.meta["freeze_observers_after"] == 1
    feeds = tiny_cnn.splits().evaluation.batch(slice(0, 4))
    from edgewise.tiers.sessions import make_session

    assert np.isfinite(make_session(art.onnx).run(None, feeds)[0]).all()


@pytest.mark.parametrize("subject_fixture", ["tiny_bert", "tiny_cnn"])
@pytest.mark.parametrize("precision", [BF16, FP32])
def test_both_backends_train_in_the_training_precision(subject_fixture, precision, tmp_path, monkeypatch, request):
    """In bf16 the layers compute under autocast and fake quantization stays fp32 (FX's fused
    fake-quantize kernels refuse bf16: expected Float, found BFloat16)."""
    monkeypatch.setenv(PRECISION_ENV, precision)
    subject = request.getfixturevalue(subject_fixture)
    root = root_artifact(subject, ArtifactCache(tmp_path / "cache"), log=lambda m: None)
    art = get_operator("qat", {"epochs": 1, "iterations": 3}).apply(root, make_ctx_factory(subject)(tmp_path))
    assert art.meta["precision"] == precision
    assert integer_kernels(optimized_op_counts(art.onnx)), art.meta
