"""Structured pruning, automatic students and QAT on model families no built-in subject uses.

The models are tiny transformers configs with random weights: encoders (ALBERT with its shared
layer, DeBERTa-v2 with relative attention through a shared key projection, ELECTRA), a ViT,
decoders (GPT-2 with one fused q/k/v Conv1D and causal attention; Qwen2 with grouped-query
attention and a gated FFN; Mistral with one key/value head for all queries; GPT-NeoX with q/k/v
fused head by head, Falcon group by group; BLOOM, whose heads cannot go), a Swin (windowed
attention, a relative position bias per head, stages) and a ConvNeXt, beside a torch CNN with
depthwise convolutions: what matters here is the structure the operators find and keep.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from edgewise.building.export import export_onnx
from edgewise.errors import PlanError
from edgewise.testing import families
from edgewise.tiers.sessions import make_session
from edgewise.whitebox.attention import find_attention
from edgewise.whitebox.conv1d import linearize_conv1d
from edgewise.whitebox.quantize import FxBackend, choose_backend
from edgewise.whitebox.structured import prune_cnn_channels, prune_transformer
from edgewise.whitebox.students import derive_student

ENCODERS = ["albert", "deberta-v2", "electra", "vit"]
DECODERS = ["gpt2", "qwen2", "mistral", "gpt-neox", "falcon"]
FAMILIES = ENCODERS + DECODERS + ["swin"]
# (attentions, query heads, key/value heads, projections: 3 separate or 1 fused) of each family's
# default size; Swin's two stages have 2 and 4 heads.
ATTENTIONS = {"albert": (1, [4], [4], 3), "gpt2": (2, [4, 4], [4, 4], 1), "qwen2": (2, [4, 4], [2, 2], 3),
              "mistral": (2, [4, 4], [1, 1], 3), "gpt-neox": (2, [4, 4], [4, 4], 1),
              "falcon": (2, [4, 4], [2, 2], 1), "swin": (4, [2, 2, 4, 4], [2, 2, 4, 4], 3)}


def _falcon(**sizes) -> nn.Module:
    """Falcon's newer decoder: q/k/v fused group by group ([q q k v] per key/value head), parallel attention and MLP."""
    from transformers import FalconConfig

    config = dict(vocab_size=len(families.VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  num_kv_heads=2, new_decoder_architecture=True, num_labels=families.CLASSES, pad_token_id=0,
                  bos_token_id=2, eos_token_id=3, hidden_dropout=0.0, attention_dropout=0.0)
    return families.text_classifier("falcon", FalconConfig(**{**config, **sizes}))


def _mistral(**sizes) -> nn.Module:
    """Llama's attention and gated FFN (Mistral's code is Llama's) with one key/value head for all four queries."""
    from transformers import MistralConfig

    config = dict(vocab_size=len(families.VOCAB), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=families.MAX_LENGTH,
                  num_labels=families.CLASSES, pad_token_id=0, bos_token_id=2, eos_token_id=3)
    return families.text_classifier("mistral", MistralConfig(**{**config, **sizes}))


def _config(name: str, **sizes):
    """GPT-NeoX (q/k/v fused as [q k v] per head) and BLOOM (the same, with ALiBi slopes per head made by the model)."""
    from transformers import BloomConfig, GPTNeoXConfig

    common = dict(vocab_size=len(families.VOCAB), hidden_size=32, num_labels=families.CLASSES, pad_token_id=0,
                  bos_token_id=2, eos_token_id=3)
    if name == "gpt-neox":
        return GPTNeoXConfig(**{**common, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
                                "max_position_embeddings": families.MAX_LENGTH, **sizes})
    return BloomConfig(**{**common, "n_layer": 2, "n_head": 4, **sizes})


def _model(name: str, **sizes) -> nn.Module:
    if name in families.IMAGE_CLASSIFIERS:
        return families.IMAGE_CLASSIFIERS[name](**sizes).eval()
    if name == "falcon":
        return _falcon(**sizes).eval()
    if name == "mistral":
        return _mistral(**sizes).eval()
    if name in ("gpt-neox", "bloom"):
        return families.text_classifier(name, _config(name, **sizes)).eval()
    return families.text_classifier(name, families.text_config(name, **sizes)).eval()


def _example(name: str, n: int = 4) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    if name in families.IMAGE_CLASSIFIERS:
        return {"pixel_values": torch.randn(n, 3, families.IMAGE, families.IMAGE, generator=generator)}
    ids = torch.randint(4, len(families.VOCAB), (n, 12), generator=generator)
    mask = torch.ones_like(ids)
    ids[0, 9:], mask[0, 9:] = 0, 0  # one padded sample: masks (and last-token pooling) must still line up
    return {"input_ids": ids, "attention_mask": mask}


def _silence_head_and_neurons(model: nn.Module, example, intermediate: int) -> None:
    """Make head 0 of every attention and a quarter of every FFN's neurons contribute exactly nothing.

    A head whose query, key and value rows are zero attends uniformly to zero values; a neuron
    whose input row is zero outputs gelu(0) = 0. They are also the least important by magnitude.
    GPT-2 stacks its heads' rows as [all queries | all keys | all values] in one matrix.
    """
    linearize_conv1d(model)
    with torch.no_grad():
        for attention in find_attention(model, example):
            d = attention.head_size
            for linear in attention.qkv:
                for start in range(0, linear.out_features, attention.width):
                    linear.weight[start:start + d] = 0
                    linear.bias[start:start + d] = 0
        for m in model.modules():
            if isinstance(m, nn.Linear) and m.out_features == intermediate:
                m.weight[: intermediate // 4] = 0
                m.bias[: intermediate // 4] = 0


@pytest.mark.parametrize("name", FAMILIES)
def test_attention_is_found_by_what_it_does(name):
    model = _model(name, num_hidden_layers=3) if name != "swin" else _model(name)
    linearize_conv1d(model)
    attentions = find_attention(model, _example(name))
    count, heads, kv_heads, projections = ATTENTIONS.get(name, (3, [4] * 3, [4] * 3, 3))
    if name in DECODERS:
        count, heads, kv_heads = 3, heads + heads[:1], kv_heads + kv_heads[:1]
    # ALBERT runs one shared layer three times: one attention module.
    assert len(attentions) == count
    assert [a.heads for a in attentions] == heads and [a.kv_heads for a in attentions] == kv_heads
    for a in attentions:
        assert len(a.qkv) == projections and a.head_size == 8
        width = (a.heads + 2 * a.kv_heads) * a.head_size
        assert sum(lin.out_features for lin in a.qkv) == width and a.output.in_features == a.heads * a.head_size


@pytest.mark.parametrize("name", ENCODERS + ["gpt2"])
def test_removing_silent_heads_and_neurons_keeps_the_outputs(name):
    """Pruning removes exactly what contributes nothing, and the attention still reshapes right."""
    model, example = _model(name), _example(name)
    intermediate = 128 if name == "gpt2" else 64  # GPT-2's FFN is 4 x hidden
    _silence_head_and_neurons(model, example, intermediate)
    with torch.no_grad():
        before = model(**example)
    left = prune_transformer(model, 0.25, "l1", False, 0, example, families.CLASSES)
    layers = 1 if name == "albert" else 2
    assert left["heads_per_layer"] == [3] * layers and left["ffn_neurons_per_layer"] == [intermediate * 3 // 4] * layers
    with torch.no_grad():
        after = model(**example)
    assert after.shape == before.shape and torch.allclose(after, before, atol=1e-5)


@pytest.mark.parametrize("name", FAMILIES)
def test_half_the_heads_go_and_the_onnx_export_agrees(name, tmp_path):
    model, example = _model(name), _example(name)
    linearize_conv1d(model)
    heads = {id(a.module): (a.heads, a.kv_heads) for a in find_attention(model, example)}
    parameters = sum(p.numel() for p in model.parameters())
    prune_transformer(model, 0.5, "l2", True, 0, example, families.CLASSES)
    for a in find_attention(model, example):
        # Grouped-query attention loses whole groups (a key/value head with its queries); a single
        # key/value head stays and loses queries.
        query_heads, kv_heads = heads[id(a.module)]
        assert (a.heads, a.kv_heads) == (query_heads // 2, max(1, kv_heads // 2))
        assert a.output.in_features == a.heads * a.head_size
    assert sum(p.numel() for p in model.parameters()) < parameters
    feeds = {k: v.numpy() for k, v in example.items()}
    path = export_onnx(model, feeds, tmp_path / "pruned.onnx")
    with torch.no_grad():
        expected = model(**example).numpy()
    assert expected.shape == (4, families.CLASSES)
    assert np.allclose(make_session(path).run(None, feeds)[0], expected, atol=1e-4)


def test_heads_whose_bias_is_made_outside_the_attention_are_refused_not_mispruned():
    """BLOOM adds ALiBi slopes for every head, computed by the model from its head count: no
    removal reproduces the model without those heads, so pruning refuses with the reason."""
    model, example = _model("bloom"), _example("bloom")
    with pytest.raises(PlanError, match="cannot remove heads of BloomAttention") as caught:
        prune_transformer(model, 0.5, "l1", False, 0, example, families.CLASSES)
    assert "ALiBi" in caught.value.message and "unstructured" in caught.value.hint
    assert all(a.heads == 4 for a in find_attention(model, example)), "nothing is left half-pruned"


def test_grouped_query_attention_loses_a_whole_group_and_what_it_computed():
    """Qwen2's 4 query heads share 2 key/value heads: at ratio 0.5 the silent group (its two queries
    and its key/value head) goes, with the silent half of the gated FFN, and the outputs stay."""
    model, example = _model("qwen2"), _example("qwen2")
    with torch.no_grad():
        for a in find_attention(model, example):
            d, per_group = a.head_size, a.heads // a.kv_heads
            for linear in a.qkv:
                rows = per_group * d if linear.out_features == a.width else d  # group 1's queries, or its key/value
                linear.weight[-rows:] = 0
                linear.bias[-rows:] = 0
        for layer in model.model.model.layers:  # gate and up rows zero: silu(0) x 0 = 0
            layer.mlp.gate_proj.weight[:32] = 0
            layer.mlp.up_proj.weight[:32] = 0
        before = model(**example)
    left = prune_transformer(model, 0.5, "l1", False, 0, example, families.CLASSES)
    assert left == {"heads_per_layer": [2, 2], "ffn_neurons_per_layer": [32, 32]}
    for layer in model.model.model.layers:
        attention = layer.self_attn
        assert attention.q_proj.out_features == 16
        assert attention.k_proj.out_features == attention.v_proj.out_features == 8
        assert attention.num_key_value_groups == 2
    with torch.no_grad():
        assert torch.allclose(model(**example), before, atol=1e-5)


@pytest.mark.parametrize("name", ["albert", "deberta-v2", "electra", "vit", "gpt2", "qwen2", "mistral"])
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


def test_decoder_student_counts_its_layers_from_zero():
    """A decoder's layers address their cache slot and their attention type by index: the student's renumber."""
    teacher = _model("qwen2", num_hidden_layers=4, layer_types=["full_attention", "sliding_attention"] * 2,
                     use_sliding_window=True, sliding_window=4)
    example = _example("qwen2")
    student, _ = derive_student(teacher, {k: v.numpy() for k, v in example.items()}, 0.5, families.CLASSES)
    assert [layer.self_attn.layer_idx for layer in student.model.model.layers] == [0, 1]
    assert student.model.config.layer_types == ["full_attention", "full_attention"]  # teacher layers 0 and 2
    with torch.no_grad():
        assert student(**example).shape == (4, families.CLASSES)


@pytest.mark.parametrize("name, depths, blocks, kept_blocks", [("swin", [2, 4], "blocks", [[1], [1, 3]]),
                                                               ("convnext", [3, 2], "layers", [[0, 2], [1]])])
def test_stage_models_are_shortened_stage_by_stage(name, depths, blocks, kept_blocks, tmp_path):
    """Each stage keeps every other block up to its last with the teacher's weights (norms and layer
    scales with them); stems, downsampling and classifier stay. ConvNeXt with one block a stage is
    thinned instead."""
    teacher = _model(name, depths=depths)
    example = {k: v.numpy() for k, v in _example(name, 2).items()}
    student, how = derive_student(teacher, example, 0.5, families.CLASSES)
    kept = [(d + 1) // 2 for d in depths]
    assert how == (f"{sum(kept)} of {sum(depths)} blocks of the teacher, each of its 2 stages shortened "
                   f"({depths[0]}+{depths[1]} -> {kept[0]}+{kept[1]})")
    assert student.model.config.depths == kept and teacher.model.config.depths == depths
    teacher_weights = teacher.state_dict()
    for key, value in student.state_dict().items():
        parts = key.split(".")
        for i in range(1, len(parts)):
            if parts[i - 1] == blocks:  # block b of stage s: the teacher's block kept_blocks[s][b]
                stage = int(parts[i - 2])
                parts[i] = str(kept_blocks[stage][int(parts[i])])
        assert torch.equal(value, teacher_weights[".".join(parts)]), key
    path = export_onnx(student, example, tmp_path / "student.onnx")
    with torch.no_grad():
        expected = student(**{k: torch.from_numpy(v) for k, v in example.items()}).numpy()
    assert np.allclose(make_session(path).run(None, example)[0], expected, atol=1e-4)


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


def test_qat_fx_refuses_an_untraceable_model_saying_why_and_what_to_try():
    example = {"pixel_values": np.zeros((1, 3, 8, 8), np.float32)}
    with pytest.raises(PlanError, match="torch.fx cannot trace _ValueDependent") as caught:
        FxBackend().prepare(_ValueDependent(), example)
    assert "backend: eager" in caught.value.hint and "sptq" in caught.value.hint


@pytest.mark.parametrize("model", [_ValueDependent, lambda: families.convnext_classifier().eval()],
                         ids=["value-dependent", "convnext"])
def test_qat_auto_takes_a_cnn_fx_cannot_trace_module_by_module(model, tmp_path):
    """The eager backend needs no trace: every Conv2d runs as QLinearConv, every Linear as
    MatMulIntegerToFloat, and the int8 model stays close to the float one."""
    from edgewise.whitebox.measure import integer_kernels, optimized_op_counts

    torch.manual_seed(0)
    float_model = model().eval()
    example = {"pixel_values": np.random.default_rng(0).normal(size=(8, 3, 16, 16)).astype(np.float32)}
    backend, prepared, why = choose_backend("auto", "cnn", float_model, example)
    assert backend.name == "eager" and why.startswith("auto: qat: torch.fx cannot trace") and "eager" in why
    with torch.no_grad():  # observers see the data, as in training
        prepared.train()(pixel_values=torch.from_numpy(example["pixel_values"]))
    int8 = backend.convert(prepared)
    path = export_onnx(int8, example, tmp_path / "int8.onnx")
    kernels = integer_kernels(optimized_op_counts(path))
    convs = [m for m in float_model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in float_model.modules() if isinstance(m, nn.Linear)]
    # The classifier reads a pooled [batch, features] tensor: exported as Gemm, it stays float.
    assert kernels.get("QLinearConv", 0) == len(convs) and kernels.get("MatMulIntegerToFloat", 0) == len(linears) - 1
    with torch.no_grad():
        expected = float_model(pixel_values=torch.from_numpy(example["pixel_values"])).numpy()
    got = make_session(path).run(None, example)[0]
    assert np.abs(got - expected).max() <= 0.1 * np.abs(expected).max() + 1e-3


def test_qat_linear_backend_quantizes_gpt2s_conv1d_projections(tmp_path):
    from edgewise.whitebox.measure import integer_kernels, optimized_op_counts

    model, example = _model("gpt2"), {k: v.numpy() for k, v in _example("gpt2").items()}
    backend, prepared, _ = choose_backend("auto", "transformer", model, example)
    with torch.no_grad():
        prepared.train()(**{k: torch.from_numpy(v) for k, v in example.items()})
    path = export_onnx(backend.convert(prepared), example, tmp_path / "gpt2-int8.onnx")
    # Per block: c_attn, c_proj, c_fc, c_proj; and the classifier (score).
    assert integer_kernels(optimized_op_counts(path)).get("MatMulIntegerToFloat", 0) == 2 * 4 + 1


STUDENT_FACTORY = '''import torch
from edgewise.testing.families import DepthwiseNet


def load():
    torch.manual_seed(0)
    return DepthwiseNet(width=16).eval()


def student():
    return DepthwiseNet(width=4)
'''


def test_distill_derives_a_student_unless_the_subject_names_one(tmp_path, monkeypatch):
    from edgewise.building.artifacts import ArtifactCache
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
        root = root_artifact(subject, cache, log=lambda m: None)
        built[tag] = build_step(operator, root, cache, make_ctx_factory(subject))
    assert built["derived"].meta["student"] == "teacher with 50% of its channels removed"
    assert built["named"].meta["student"] == "the subject's own"
    named_student = families.DepthwiseNet(width=4)
    assert built["named"].meta["student_parameters"] == sum(p.numel() for p in named_student.parameters())
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
