"""Node-level int8: a node whose quantization ruins accuracy stays in float, and the drop holds.

The model is a tabular MLP (nothing like the built-in image and text subjects) whose first input
feature is a raw count up to 2,000 beside features of unit scale: quantizing the first layer's input
per tensor rounds every small feature away, quantizing any later layer costs little.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edgewise.building.artifacts import ArtifactCache
from edgewise.building.export import export_onnx
from edgewise.data.split import Split, Splits
from edgewise.operators import get_operator
from edgewise.operators.chain import build_step, root_artifact
from edgewise.operators.int8_nodes import original_node, signature
from edgewise.subjects import SubjectContext
from tests.operators.helpers import evaluate, make_ctx_factory
from tests.operators.onnx_only import OnnxFileSubject

FEATURES, CLASSES, SAMPLES = 12, 4, 400


def _tabular_mlp(path, seed: int = 0):
    import torch

    class Mlp(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.Sequential(torch.nn.Linear(FEATURES, 48), torch.nn.ReLU(), torch.nn.Linear(48, 48),
                                              torch.nn.ReLU(), torch.nn.Linear(48, CLASSES))

        def forward(self, features):
            return self.layers(features)

    torch.manual_seed(seed)
    model = Mlp()
    with torch.no_grad():
        model.layers[0].weight[:, 0] *= 1e-4  # the raw count barely matters to the float model
        model.layers[4].weight *= 4.0  # well separated classes: the float model's argmax is the label
    return export_onnx(model, {"features": np.zeros((1, FEATURES), np.float32)}, path, "logits")


class TabularSubject(OnnxFileSubject):
    """Random rows with a raw count in the first column; labels: the float model's own top class."""

    input_names = ("features",)

    def splits(self) -> Splits:
        if not hasattr(self, "_splits"):
            from edgewise.onnxgraph import make_session

            rng = np.random.default_rng(self.ctx.seed)
            x = rng.standard_normal((2 * self.samples, FEATURES)).astype(np.float32)
            x[:, 0] = rng.uniform(0, 2000, 2 * self.samples)
            labels = make_session(self.path).run(None, {"features": x})[0].argmax(1)
            half = self.samples
            self._splits = Splits(Split({"features": x[:0]}, labels[:0]), Split({"features": x[:half]}, labels[:half]),
                                  Split({"features": x[half:]}, labels[half:]))
        return self._splits

    def preprocessing(self) -> dict[str, Any]:
        return {"kind": "tensor", "input": "features", "shape": [1, FEATURES], "dtype": "float32"}


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    work = tmp_path_factory.mktemp("tabular")
    path = _tabular_mlp(work / "mlp.onnx")
    subject = TabularSubject(SubjectContext(cache_dir=work, log=lambda m: None), "tabular-mlp", path, samples=SAMPLES)
    return subject, work


def test_the_sensitive_node_stays_float_and_the_drop_holds(tabular):
    subject, work = tabular
    cache = ArtifactCache(work / "artifacts")
    root = root_artifact(subject, cache, log=lambda m: None)
    # Speed control off: on a model this small int8 pays nowhere, and it would (rightly) revert the rest too.
    params = {"calibration": "minmax", "calibration_size": 200, "search_runs": 3, "latency_runs": 3,
              "max_accuracy_drop": 2.0, "speed_control": False}
    art = build_step(get_operator("sptq", params), root, cache, make_ctx_factory(subject, None))
    nodes = art.meta["nodes"]
    kept = {k["node"]: k for k in nodes["kept_float"]}
    first_layer = _first_gemm(root.onnx)
    most, next_most = nodes["sensitivity"][:2]
    assert most["node"] == first_layer and most["output_error"] > 10 * next_most["output_error"]
    assert kept[first_layer]["reason"] == "accuracy"
    assert all(k["reason"] != "accuracy" for name, k in kept.items() if name != first_layer)  # only what was needed
    assert art.meta["quantized_nodes"].get("Gemm", 0) >= 1  # the later layers still run in int8
    drop = 100 * (evaluate(root.parts, subject)["top1"] - evaluate(art.parts, subject)["top1"])
    assert drop <= 2.0


def _first_gemm(path) -> str:
    import onnx

    return next(n.name for n in onnx.load(str(path)).graph.node if n.op_type == "Gemm")


def test_without_accuracy_control_the_drop_does_not_hold(tabular):
    subject, work = tabular
    cache = ArtifactCache(work / "artifacts")
    root = root_artifact(subject, cache, log=lambda m: None)
    params = {"calibration": "minmax", "calibration_size": 200, "search_runs": 3, "latency_runs": 3,
              "max_accuracy_drop": 2.0, "accuracy_control": False, "speed_control": False}
    art = build_step(get_operator("sptq", params), root, cache, make_ctx_factory(subject, None))
    assert not [k for k in art.meta["nodes"]["kept_float"] if k["reason"] == "accuracy"]
    drop = 100 * (evaluate(root.parts, subject)["top1"] - evaluate(art.parts, subject)["top1"])
    assert drop > 2.0


def test_kernels_map_back_to_the_quantizer_graph_nodes():
    names = {"/c1/Conv", "/fc/Gemm", "/attn/MatMul"}
    assert original_node("/c1/Conv_token_4", names) == "/c1/Conv"
    assert original_node("/c1/Conv_quant_token_1", names) == "/c1/Conv"
    assert original_node("/attn/MatMul/MatMulScaleFusion/", names) == "/attn/MatMul"
    assert original_node("Transpose_token_7", names) is None


def test_groups_name_what_a_node_computes():
    import onnx
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((16, 1, 3, 3), np.float32), "w")
    b = numpy_helper.from_array(np.zeros((16, 32), np.float32), "b")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="dw", group=16),
                               helper.make_node("MatMul", ["y", "b"], ["z"], name="mm"),
                               helper.make_node("MatMul", ["z", "z"], ["q"], name="aa")], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("q", onnx.TensorProto.FLOAT, None)], [w, b])
    model = helper.make_model(graph)
    by_name = {n.name: n for n in graph.node}
    assert signature(model, by_name["dw"]) == "Conv 3x3 depthwise"
    assert signature(model, by_name["mm"]) == "MatMul 16x32"
    assert signature(model, by_name["aa"]) == "MatMul of activations"
