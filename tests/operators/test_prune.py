"""Pruning: structured pruning makes the model physically smaller; unstructured keeps its shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgewise.building.artifacts import ArtifactCache
from edgewise.operators import get_operator
from edgewise.operators.chain import build_step, root_artifact
from edgewise.tiers.sessions import make_session
from edgewise.whitebox.structured import prune_transformer
from tests.operators.helpers import evaluate, make_ctx_factory


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> ArtifactCache:
    return ArtifactCache(tmp_path_factory.mktemp("prune-artifacts"))


def _build(subject, cache, **params):
    root = root_artifact(subject, cache, log=lambda m: None)
    return root, build_step(get_operator("prune", params), root, cache, make_ctx_factory(subject))


def _torch_logits(path, feeds):
    module = torch.load(path, weights_only=False).eval()
    with torch.no_grad():
        return module(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()


def test_cnn_loses_half_its_channels_and_keeps_accuracy(tiny_cnn, cache):
    root, art = _build(tiny_cnn, cache)
    convs = [m for m in torch.load(art.torch_module, weights_only=False).modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 8, 16]  # from 16, 16, 32
    assert art.meta["macs_after"] < 0.5 * art.meta["macs_before"]
    assert art.meta["parameters_after"] < 0.5 * art.meta["parameters_before"]
    assert art.meta["latency_ms_before"] > 0 and art.meta["latency_ms_after"] > 0
    assert evaluate(art.parts, tiny_cnn)["top1"] >= evaluate(root.parts, tiny_cnn)["top1"] - 0.02
    feeds = tiny_cnn.splits().evaluation.batch(slice(0, 8))
    assert np.allclose(make_session(art.onnx).run(None, feeds)[0], _torch_logits(art.torch_module, feeds), atol=1e-4)


def test_transformer_loses_heads_and_ffn_neurons(tiny_bert, cache):
    root, art = _build(tiny_bert, cache)
    assert art.meta["heads_per_layer"] == [1, 1] and art.meta["ffn_neurons_per_layer"] == [32, 32]
    assert art.meta["parameters_after"] < art.meta["parameters_before"]
    assert evaluate(art.parts, tiny_bert)["accuracy"] >= evaluate(root.parts, tiny_bert)["accuracy"] - 0.05
    feeds = tiny_bert.splits().evaluation.batch(slice(0, 8))
    assert np.allclose(make_session(art.onnx).run(None, feeds)[0], _torch_logits(art.torch_module, feeds), atol=1e-4)


def test_head_pruning_keeps_the_function_of_what_remains(tiny_bert):
    """Removing a head and FFN neurons that contribute nothing leaves the outputs unchanged: pruning is exact."""
    model = tiny_bert.teacher()
    layers = model.model.bert.encoder.layer
    with torch.no_grad():
        for layer in layers:
            sa, d = layer.attention.self, layer.attention.self.attention_head_size
            for lin in (sa.query, sa.key, sa.value):
                lin.weight[:d] = 0
                lin.bias[:d] = 0
            layer.attention.output.dense.weight[:, :d] = 0
            half = layer.intermediate.dense.out_features // 2
            layer.intermediate.dense.weight[:half] = 0
            layer.intermediate.dense.bias[:half] = 0
            layer.output.dense.weight[:, :half] = 0
    feeds = {k: torch.from_numpy(v) for k, v in tiny_bert.splits().evaluation.batch(slice(0, 8)).items()}
    with torch.no_grad():
        before = model.eval()(**feeds)
    left = prune_transformer(model, 0.5, "l1", False, 0, feeds, tiny_bert.num_classes)
    assert left == {"heads_per_layer": [1, 1], "ffn_neurons_per_layer": [32, 32]}
    assert [layer.attention.self.query.out_features for layer in layers] == [16, 16]
    with torch.no_grad():
        after = model.eval()(**feeds)
    assert torch.allclose(after, before, atol=1e-5)


@pytest.mark.parametrize("importance, scope", [("taylor", "local"), ("random", "global"), ("l2", "global")])
def test_importance_criteria_and_scopes_build(tiny_cnn, importance, scope, tmp_path):
    root = root_artifact(tiny_cnn, ArtifactCache(tmp_path / "cache"), log=lambda m: None)
    op = get_operator("prune", {"importance": importance, "scope": scope, "epochs": 0})
    art = op.apply(root, make_ctx_factory(tiny_cnn)(tmp_path))
    assert art.meta["importance"] == importance and art.meta["scope"] == scope
    assert art.meta["parameters_after"] < art.meta["parameters_before"]


def test_global_scope_keeps_a_head_in_every_layer(tiny_bert):
    model = tiny_bert.teacher()
    feeds = {k: torch.from_numpy(v) for k, v in tiny_bert.splits().evaluation.batch(slice(0, 2)).items()}
    left = prune_transformer(model, 0.9, "l2", True, 0, feeds, tiny_bert.num_classes)
    assert all(h >= 1 for h in left["heads_per_layer"]) and all(n >= 1 for n in left["ffn_neurons_per_layer"])


def test_unstructured_zeros_weights_in_place_of_removing_them(tiny_cnn, cache):
    root, art = _build(tiny_cnn, cache, mode="unstructured", ratio=0.5)
    assert art.meta["zero_weight_fraction"] >= 0.5
    assert art.meta["parameters_after"] == art.meta["parameters_before"]
    assert art.meta["macs_after"] == art.meta["macs_before"]
    assert "no speed-up" in art.meta["expectation"]
    assert evaluate(art.parts, tiny_cnn)["top1"] >= evaluate(root.parts, tiny_cnn)["top1"] - 0.05
