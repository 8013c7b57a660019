"""Structured pruning, automatic students and QAT's refusal on model families no built-in subject uses.

The models are tiny transformers configs with random weights (ALBERT with its shared layer,
DeBERTa-v2 with relative attention through a shared key projection, ELECTRA, ViT) and a torch
CNN with depthwise convolutions: what matters here is the structure the operators find and keep.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from edgewise.errors import PlanError
from edgewise.export import export_onnx
from edgewise.runtime import make_session
from edgewise.whitebox.quantize import FxBackend
from edgewise.whitebox.structured import find_attention, prune_cnn_channels, prune_transformer
from edgewise.whitebox.students import derive_student
from tests.subjects import families

FAMILIES = ["albert", "deberta-v2", "electra", "vit"]


def _model(name: str, **sizes) -> nn.Module:
    if name == "vit":
        return families.vit_classifier(**sizes).eval()
    return families.text_classifier(name, families.text_config(name, **sizes)).eval()


def _example(name: str, n: int = 4) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    if name == "vit":
        return {"pixel_values": torch.randn(n, 3, families.IMAGE, families.IMAGE, generator=generator)}
    ids = torch.randint(4, len(families.VOCAB), (n, 12), generator=generator)
    mask = torch.ones_like(ids)
    mask[0, 9:] = 0  # one padded sample: masks must still line up after pruning
    return {"input_ids": ids, "attention_mask": mask}


def _silence_head_and_neurons(model: nn.Module, example, intermediate: int) -> None:
    """Make head 0 of every attention and a quarter of every FFN's neurons contribute exactly nothing.

    A head whose query, key and value rows are zero attends uniformly to zero values; a neuron
    whose input row is zero outputs gelu(0) = 0. They are also the least important by magnitude.
    """
    with torch.no_grad():
        for attention in find_attention(model, example):
            d = attention.qkv[0].out_features // attention.heads
            for linear in attention.qkv:
                linear.weight[:d] = 0
                linear.bias[:d] = 0
        for m in model.modules():
            if isinstance(m, nn.Linear) and m.out_features == intermediate:
                m.weight[: intermediate // 4] = 0
                m.bias[: intermediate // 4] = 0


@pytest.mark.parametrize("name", FAMILIES)
def test_attention_is_found_by_what_it_does(name):
    model = _model(name, num_hidden_layers=3)
    attentions = find_attention(model, _example(name))
    # ALBERT runs one shared layer three times: one attention module.
    assert len(attentions) == (1 if name == "albert" else 3)
    for a in attentions:
        assert a.heads == 4 and len(a.qkv) == 3
        assert all(lin.in_features == 32 and lin.out_features == 32 for lin in a.qkv)


@pytest.mark.parametrize("name", FAMILIES)
def test_removing_silent_heads_and_neurons_keeps_the_outputs(name):
    """Pruning removes exactly what contributes nothing, and the attention still reshapes right."""
    model, example = _model(name), _example(name)
    _silence_head_and_neurons(model, example, intermediate=64)
    with torch.no_grad():
        before = model(**example)
    left = prune_transformer(model, 0.25, "l1", False, 0, example, families.CLASSES)
    layers = 1 if name == "albert" else 2
    assert left["heads_per_layer"] == [3] * layers and left["ffn_neurons_per_layer"] == [48] * layers
    with torch.no_grad():
        after = model(**example)
    assert after.shape == before.shape and torch.allclose(after, before, atol=1e-5)


@pytest.mark.parametrize("name", FAMILIES)
def test_half_the_heads_go_and_the_onnx_export_agrees(name, tmp_path):
    model, example = _model(name), _example(name)
    parameters = sum(p.numel() for p in model.parameters())
    prune_transformer(model, 0.5, "l2", True, 0, example, families.CLASSES)
    assert all(a.heads == 2 and a.qkv[0].out_features == 16 for a in find_attention(model, example))
    assert sum(p.numel() for p in model.parameters()) < parameters
    feeds = {k: v.numpy() for k, v in example.items()}
    path = export_onnx(model, feeds, tmp_path / "pruned.onnx")
    with torch.no_grad():
        expected = model(**example).numpy()
    assert expected.shape == (4, families.CLASSES)
    assert np.allclose(make_session(path).run(None, feeds)[0], expected, atol=1e-4)


@pytest.mark.parametrize("name", FAMILIES)
def test_automatic_student_keeps_every_other_layer_of_the_teacher(name):
    teacher = _model(name, num_hidden_layers=4)
    example = _example(name)
    student, how = derive_student(teacher, {k: v.numpy() for k, v in example.items()}, 0.5, families.CLASSES)
    assert how == "2 of 4 layers of the teacher"
    assert student.model.config.num_hidden_layers == 2 and teacher.model.config.num_hidden_layers == 4
    with torch.no_grad():
        assert student(**example).shape == (4, families.CLASSES)
    teacher_weights, student_weights = teacher.state_dict(), student.state_dict()
    if name == "albert":  # one shared layer, run twice instead of four times
        assert student_weights.keys() == teacher_weights.keys()
        assert all(torch.equal(student_weights[k], teacher_weights[k]) for k in teacher_weights)
        return
    # Student layer i is teacher layer 2i; embeddings and classifier are the teacher's.
    for key, value in student_weights.items():
        parts = key.split(".")
        index = next((i for i, p in enumerate(parts) if p.isdigit()), None)
        if index is not None:
            parts[index] = str(2 * int(parts[index]))
        assert torch.equal(value, teacher_weights[".".join(parts)]), key
    assert len(student_weights) < len(teacher_weights)


def test_cnn_student_is_a_thinner_copy_with_depthwise_groups_kept(tmp_path):
    teacher = families.DepthwiseNet(width=16).eval()
    example = {"x": np.random.default_rng(0).normal(size=(2, 3, 16, 16)).astype(np.float32)}
    student, how = derive_student(teacher, example, 0.5, families.CLASSES)
    assert "50% of its channels" in how
    convs = [m for m in student.modules() if isinstance(m, nn.Conv2d)]
    depthwise = [c for c in convs if c.groups > 1]
    assert depthwise and all(c.groups == c.in_channels == c.out_channels for c in depthwise)
    assert [c.out_channels for c in convs] == [8, 8, 8, 8, 16, 16, 16]
    assert teacher.stem[0].out_channels == 16, "the teacher is left whole"
    path = export_onnx(student, example, tmp_path / "student.onnx")
    with torch.no_grad():
        expected = student(torch.from_numpy(example["x"])).numpy()
    assert np.allclose(make_session(path).run(None, example)[0], expected, atol=1e-5)


def test_cnn_pruning_follows_residual_adds_through_depthwise_blocks():
    model = families.DepthwiseNet(width=16).eval()
    x = torch.randn(2, 3, 16, 16)
    prune_cnn_channels(model, {"x": x}, 0.25, "l1", False, families.CLASSES)
    assert model.stem[0].out_channels == model.block1[0].in_channels == model.block1[3].out_channels == 12
    assert model.head[2].out_features == families.CLASSES
    with torch.no_grad():
        assert model(x).shape == (2, families.CLASSES)


class _ValueDependent(nn.Module):
    """Python control flow on a tensor's value: what torch.fx cannot trace."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, pixel_values):
        x = self.conv(pixel_values)
        if x.mean() > 0:
            x = x * 2
        return self.fc(x.mean((2, 3)))


def test_qat_refuses_an_untraceable_model_saying_why_and_what_to_try():
    example = {"pixel_values": np.zeros((1, 3, 8, 8), np.float32)}
    with pytest.raises(PlanError, match="torch.fx cannot trace _ValueDependent") as caught:
        FxBackend().prepare(_ValueDependent(), example)
    assert "backend: linear" in caught.value.hint and "sptq" in caught.value.hint


STUDENT_FACTORY = '''import torch
from tests.subjects.families import DepthwiseNet


def load():
    torch.manual_seed(0)
    return DepthwiseNet(width=16).eval()


def student():
    return DepthwiseNet(width=4)
'''


def test_distill_derives_a_student_unless_the_subject_names_one(tmp_path, monkeypatch):
    from edgewise.artifacts import ArtifactCache
    from edgewise.operators import get_operator
    from edgewise.operators.chain import build_step, root_artifact
    from edgewise.subjects import SubjectContext
    from edgewise.subjects.user import make_subject
    from tests.operators.helpers import make_ctx_factory

    (tmp_path / "dw_models.py").write_text(STUDENT_FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    data = families._image_folder(tmp_path / "images", *families.images(40, seed=3))
    ctx = SubjectContext(cache_dir=tmp_path / "cache", log=lambda m: None)
    operator = get_operator("distill", {"epochs": 1, "iterations": 2})
    built = {}
    for tag, options in (("derived", {}), ("named", {"student": "dw_models:student"})):
        subject = make_subject({"name": "dw", "torch": "dw_models:load", "data": str(data), "options": options,
                                "input": {**families.IMAGE_INPUT, "name": "x"}}, ctx)
        cache = ArtifactCache(tmp_path / "artifacts")
        built[tag] = build_step(operator, root_artifact(subject, cache, log=lambda m: None), cache, make_ctx_factory(subject))
    assert built["derived"].meta["student"] == "teacher with 50% of its channels removed"
    assert built["named"].meta["student"] == "the subject's own"
    assert built["named"].meta["student_parameters"] == sum(p.numel() for p in families.DepthwiseNet(width=4).parameters())
    assert built["derived"].meta["student_parameters"] < built["derived"].meta["teacher_parameters"]
    assert built["derived"].key != built["named"].key


def test_hf_convnext_is_thinned_not_cut_in_depth(tmp_path):
    """ConvNeXt counts its stages as hidden layers, but they differ in width: its student is a thinner copy."""
    from transformers import ConvNextConfig, ConvNextForImageClassification

    from edgewise.subjects.modules import LogitsOnly

    torch.manual_seed(0)
    model = LogitsOnly(ConvNextForImageClassification(ConvNextConfig(num_stages=2, hidden_sizes=[16, 32], depths=[1, 1],
                                                                     num_labels=families.CLASSES))).eval()
    example = {"pixel_values": np.random.default_rng(0).normal(size=(1, 3, 32, 32)).astype(np.float32)}
    student, how = derive_student(model, example, 0.5, families.CLASSES)
    assert "channels removed" in how
    assert sum(p.numel() for p in student.parameters()) < 0.5 * sum(p.numel() for p in model.parameters())
    path = export_onnx(student, example, tmp_path / "convnext.onnx")
    with torch.no_grad():
        expected = student(pixel_values=torch.from_numpy(example["pixel_values"])).numpy()
    assert np.allclose(make_session(path).run(None, example)[0], expected, atol=1e-4)


class _HardCodedWidth(nn.Module):
    """A forward that states a channel count: a coupling no dependency graph can see."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.fc = nn.Linear(16, families.CLASSES)

    def forward(self, pixel_values):
        return self.fc(self.conv(pixel_values).mean((2, 3)).reshape(-1, 16))


def test_a_pruned_model_that_no_longer_runs_is_refused_plainly():
    example = {"pixel_values": np.zeros((1, 3, 8, 8), np.float32)}
    with pytest.raises(PlanError, match="unable to run") as caught:
        derive_student(_HardCodedWidth().eval(), example, 0.5, families.CLASSES)
    assert "options.student" in caught.value.hint and "unstructured" in caught.value.hint
