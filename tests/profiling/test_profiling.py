"""Per-operator profiles and serving memory on models of families no built-in subject uses: a random
ELECTRA built from its transformers config, and a depthwise CNN split into a head and a tail."""

from __future__ import annotations

import numpy as np
import pytest

from edgewise.building.export import export_onnx
from edgewise.profiling import OperatorProfile, profile_onnx, serving_memory


@pytest.fixture(scope="module")
def electra(tmp_path_factory):
    import torch
    from transformers import ElectraConfig, ElectraForSequenceClassification

    torch.manual_seed(0)
    config = ElectraConfig(vocab_size=300, embedding_size=32, hidden_size=64, num_hidden_layers=2,
                           num_attention_heads=4, intermediate_size=128, num_labels=3)
    model = ElectraForSequenceClassification(config).eval()

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    example = {"input_ids": np.ones((1, 24), np.int64), "attention_mask": np.ones((1, 24), np.int64)}
    path = export_onnx(Logits(), example, tmp_path_factory.mktemp("electra") / "electra.onnx")
    rng = np.random.default_rng(0)
    feeds = [{"input_ids": rng.integers(0, 300, (1, 24)), "attention_mask": np.ones((1, 24), np.int64)}
             for _ in range(3)]
    return path, feeds


@pytest.fixture(scope="module")
def depthwise_split(tmp_path_factory):
    """A depthwise-separable CNN as a partition: head (stem and one block) and tail (block, pool, classifier)."""
    import torch
    import torch.nn as nn

    def block(c_in, c_out):
        return nn.Sequential(nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in), nn.ReLU(), nn.Conv2d(c_in, c_out, 1),
                             nn.ReLU())

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(), block(16, 32))

        def forward(self, pixel_values):
            return self.body(pixel_values)

    class Tail(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 5))

        def forward(self, features):
            return self.body(features)

    torch.manual_seed(0)
    work = tmp_path_factory.mktemp("depthwise")
    head = export_onnx(Head(), {"pixel_values": np.zeros((1, 3, 32, 32), np.float32)}, work / "head.onnx", "features")
    tail = export_onnx(Tail(), {"features": np.zeros((1, 32, 16, 16), np.float32)}, work / "tail.onnx", "logits")
    return (head, tail), work


def test_profile_states_time_by_op_type_and_node(electra):
    path, feeds = electra
    profile = profile_onnx([path], feeds, threads=1, runs=6)
    part = profile.parts[0]
    assert profile.runs == 6 and part.threads == 1 and part.node_count == len(part.nodes) > 10
    assert any("MatMul" in op for op in part.by_type)  # the attention and feed-forward products
    assert list(part.by_type.values()) == sorted(part.by_type.values(), reverse=True)
    assert [n.ms for n in part.nodes] == sorted((n.ms for n in part.nodes), reverse=True)
    assert sum(part.by_type.values()) == pytest.approx(sum(n.ms for n in part.nodes))
    assert 0 < part.kernel_ms <= part.run_ms * 1.2  # kernels are part of a run (medians: about, not exactly)


def test_a_tier_figure_is_the_host_figure_over_its_speed_and_survives_json(electra):
    path, feeds = electra
    host = profile_onnx([path], feeds, runs=3)
    edge = host.scaled([0.5])
    assert edge.run_ms == pytest.approx(host.run_ms / 0.5)
    top = next(iter(host.by_type()))
    assert edge.by_type()[top] == pytest.approx(host.by_type()[top] * 2)
    stored = host.trimmed(5)
    assert len(stored.parts[0].nodes) == 5 and stored.parts[0].node_count == host.parts[0].node_count
    again = OperatorProfile.from_dict(stored.to_dict())  # stored to 10 ns
    assert again == OperatorProfile.from_dict(again.to_dict())
    assert again.by_type() == pytest.approx(stored.by_type(), abs=1e-5)
    with pytest.raises(ValueError):
        host.scaled([0.5, 0.25])


def test_a_partition_is_profiled_part_by_part_in_request_order(depthwise_split):
    (head, tail), _ = depthwise_split
    feeds = [{"pixel_values": np.random.default_rng(i).random((1, 3, 32, 32), dtype=np.float32)} for i in range(2)]
    profile = profile_onnx([head, tail], feeds, threads=[1, 2], runs=4)
    assert [p.threads for p in profile.parts] == [1, 2]
    assert all(p.node_count > 0 for p in profile.parts)
    tail_types = set(profile.parts[1].by_type)
    assert tail_types & {"Gemm", "FusedGemm", "MatMul"}  # the classifier runs in the tail only
    assert not set(profile.parts[0].by_type) & {"Gemm", "FusedGemm"}
    per_tier = profile.scaled([0.25, 1.0])
    assert per_tier.parts[0].run_ms == pytest.approx(profile.parts[0].run_ms * 4)
    assert per_tier.parts[1].run_ms == pytest.approx(profile.parts[1].run_ms)


def test_serving_memory_grows_with_the_model_and_measures_each_part(depthwise_split, tmp_path):
    import io

    import onnx
    from onnx import helper, numpy_helper
    from PIL import Image

    (head, tail), _ = depthwise_split
    buffer = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((40, 40, 3)) * 255).astype(np.uint8)).save(buffer, "JPEG")
    payloads = [buffer.getvalue()] * 3
    spec = {"kind": "image", "size": [32, 32], "channels": 3, "input": "pixel_values"}
    split = serving_memory([head, tail], payloads, spec, threads=1)
    assert len(split.parts) == 2 and split.inputs == 3
    for part in split.parts:
        assert 10 < part.baseline_rss_mb <= part.peak_rss_mb
    # The same head with 64 MB of extra weights read by a node: the peak grows by about that much.
    model = onnx.load(str(head))
    big = numpy_helper.from_array(np.ones((4096, 4096), np.float32), "ballast")
    model.graph.initializer.append(big)
    model.graph.node.append(helper.make_node("ReduceMax", ["ballast"], ["ballast_max"], keepdims=0))
    model.graph.output.append(helper.make_tensor_value_info("ballast_max", onnx.TensorProto.FLOAT, []))
    onnx.save(model, str(tmp_path / "heavy.onnx"))
    heavy = serving_memory([tmp_path / "heavy.onnx"], payloads, spec)
    assert heavy.model_mb > 60
    assert heavy.peak_rss_mb - split.parts[0].peak_rss_mb > 40


def test_serving_memory_is_the_probe_s_own_not_its_parent_s(depthwise_split):
    """A study's process may have held gigabytes (training); the probe it starts must not inherit that peak."""
    (head, _), _ = depthwise_split
    spec = {"kind": "tensor", "input": "pixel_values", "shape": [1, 3, 32, 32], "dtype": "float32"}
    payload = np.zeros((1, 3, 32, 32), np.float32).tobytes()
    ballast = np.ones(600 * 2**20 // 8)  # 600 MB resident in this (the parent) process
    measured = serving_memory([head], [payload], spec)
    assert ballast.sum() > 0 and measured.peak_rss_mb < 400


def test_the_stage_profiles_each_artifact_once_and_a_failing_one_fails_alone(depthwise_split, tmp_path):
    import io

    from PIL import Image

    from edgewise.building.artifacts import Artifact
    from edgewise.building.workshop import Built
    from edgewise.config import TestbedConfig
    from edgewise.output.store import Store
    from edgewise.planning.plan import Cell
    from edgewise.profiling.stage import profile_artifacts

    (head, tail), work = depthwise_split
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")

    class Camera:  # what the stage asks of a subject: raw latency inputs and their preprocessing
        def latency_inputs(self, n):
            buffer = io.BytesIO()
            Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(buffer, "JPEG")
            return [buffer.getvalue()] * n

        def preprocessing(self):
            return {"kind": "image", "size": [32, 32], "channels": 3, "input": "pixel_values"}

    split = Artifact("cam", ("partition",), (head, tail), key="split")
    bad = Artifact("cam", ("identity",), (broken,), key="bad")
    built = [Built(Cell.parse("cam:partition@mobile-edge"), split), Built(Cell.parse("cam:identity@edge"), bad),
             Built(Cell.parse("cam:identity@cloud"), bad), Built(Cell.parse("cam:sptq@edge"), None, "build failed")]
    store = Store(tmp_path / "study.sqlite")
    logged: list[str] = []
    profile_artifacts(store, built, lambda name: Camera(), TestbedConfig(preset="paper-scaled").tier_specs(),
                      logged.append)
    found = store.profile("split", (1, 1))
    assert found["error"] is None and len(found["profile"]["parts"]) == len(found["memory"]["parts"]) == 2
    failed = store.profile("bad", (1,))
    assert failed["profile"] is None and "profile:" in failed["error"]
    assert sum("profile of cam:identity" in m for m in logged) == 1  # the same artifact and threads: once
