"""A user's own models and data: ONNX + image folder, Hugging Face dir + unlabeled JSONL, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest

from edgewise.building.artifacts import ArtifactCache
from edgewise.config import SubjectConfig
from edgewise.data.preprocess import build_preprocessor
from edgewise.errors import DataError, PlanError
from edgewise.operators.chain import root_artifact
from edgewise.subjects import score
from edgewise.subjects.user import UserSubject, make_subject

SIZE = 16


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory, tiny_cnn):
    """The tiny CNN teacher exported to ONNX: a model the user brings."""
    from edgewise.building.export import export_onnx

    path = tmp_path_factory.mktemp("user-model") / "model.onnx"
    example = tiny_cnn.splits().calibration.batch(slice(0, 1))
    return export_onnx(tiny_cnn.teacher(), example, path)


def _png_folder(root, tiny_cnn, labeled: bool, n: int = 40):
    from PIL import Image

    x = tiny_cnn.splits().evaluation.inputs["pixel_values"][:n, 0]
    y = tiny_cnn.splits().evaluation.labels[:n]
    for i, (img, label) in enumerate(zip(x, y)):
        folder = root / f"class{label}" if labeled else root
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 255).round().astype(np.uint8)).save(folder / f"{i:03d}.png")
    return root


def _config(tiny_onnx, data, **over) -> SubjectConfig:
    fields = {"name": "mine", "onnx": str(tiny_onnx), "data": str(data),
              "input": {"size": SIZE, "channels": 1, "mean": [0.0], "std": [1.0]}}
    return SubjectConfig(**{**fields, **over})


def _evaluate(subject, onnx_path) -> dict[str, float]:
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    ev = subject.splits().evaluation
    logits = session.run(None, ev.inputs)[0]
    return score(subject.metrics, logits, ev.labels)[0]


def test_onnx_model_with_labeled_image_folder_through_identity(tmp_path, tiny_onnx, tiny_cnn, subject_ctx):
    data = _png_folder(tmp_path / "images", tiny_cnn, labeled=True)
    subject = make_subject(_config(tiny_onnx, data), subject_ctx)
    assert subject.metrics == ("top1", "top5") and subject.num_classes == 4 and not subject.has_torch
    splits = subject.splits()
    assert (len(splits.train), len(splits.calibration), len(splits.evaluation)) == (24, 4, 12)
    assert splits.evaluation.inputs["pixel_values"].shape[1:] == (1, SIZE, SIZE)

    art = root_artifact(subject, ArtifactCache(tmp_path / "cache"), log=lambda m: None)
    assert art.torch_module is None and "torch" not in art.capabilities
    quality = _evaluate(subject, art.parts[0])
    assert quality["top1"] >= 0.9  # the tiny CNN solves its own task; PNG round trip keeps that

    pre = build_preprocessor(subject.preprocessing())
    payload = subject.latency_inputs(1)[0]
    assert payload[:4] == b"\x89PNG"
    assert np.allclose(pre(payload)["pixel_values"][0], splits.evaluation.inputs["pixel_values"][0])


def test_unlabeled_image_folder_is_scored_by_agreement(tmp_path, tiny_onnx, tiny_cnn, subject_ctx):
    data = _png_folder(tmp_path / "flat", tiny_cnn, labeled=False)
    subject = make_subject(_config(tiny_onnx, data), subject_ctx)
    assert subject.metrics == ("agreement",)
    assert _evaluate(subject, tiny_onnx) == {"agreement": 1.0}


def test_onnx_subject_refuses_white_box(tmp_path, tiny_onnx, tiny_cnn, subject_ctx):
    subject = make_subject(_config(tiny_onnx, _png_folder(tmp_path / "i", tiny_cnn, True, 8)), subject_ctx)
    with pytest.raises(PlanError, match="PyTorch or Hugging Face"):
        subject.teacher()


def test_mismatched_input_and_missing_files_are_data_errors(tmp_path, tiny_onnx, tiny_cnn, subject_ctx):
    data = _png_folder(tmp_path / "i", tiny_cnn, True, 8)
    wrong = make_subject(_config(tiny_onnx, data, input={"size": SIZE, "channels": 3}), subject_ctx)
    with pytest.raises(DataError, match="does not accept the data"):
        wrong.splits()
    with pytest.raises(DataError, match="not found"):
        make_subject(_config(tmp_path / "nope.onnx", data), subject_ctx)
    with pytest.raises(DataError, match="image folder"):
        make_subject(_config(tiny_onnx, tmp_path / "missing"), subject_ctx).splits()


def test_builtin_names_go_through_make_subject(subject_ctx):
    assert make_subject("tiny-cnn", subject_ctx).name == "tiny-cnn"
    with pytest.raises(PlanError, match="unknown subject"):
        make_subject("no-such-model", subject_ctx)


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory, tiny_bert):
    """The tiny BERT teacher saved as a local Hugging Face folder with its tokenizer.json."""
    path = tmp_path_factory.mktemp("hf-model")
    tiny_bert.teacher().model.save_pretrained(path)
    shutil.copyfile(tiny_bert.preprocessing()["tokenizer"], path / "tokenizer.json")
    return path


def test_hf_model_with_unlabeled_jsonl_offline(tmp_path, hf_dir, tiny_bert, subject_ctx, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts = [t.decode() for t in tiny_bert.latency_inputs(30)]
    data = tmp_path / "texts.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    subject = make_subject({"name": "my-bert", "task": "text-classification", "hf": str(hf_dir), "data": str(data),
                            "input": {"max_length": 16}}, subject_ctx)
    assert isinstance(subject, UserSubject) and subject.has_torch and subject.metrics == ("agreement",)
    from edgewise.building.training import predict

    ev = subject.splits().evaluation
    assert score(subject.metrics, predict(subject.teacher(), ev), ev.labels)[0] == {"agreement": 1.0}
    pre = build_preprocessor(subject.preprocessing())
    assert np.array_equal(pre(subject.latency_inputs(1)[0])["input_ids"][0], ev.inputs["input_ids"][0])


def test_labeled_csv_maps_names_in_sorted_order(tmp_path, hf_dir, tiny_bert, subject_ctx):
    texts, labels = tiny_bert.latency_inputs(12), ["b", "a", "c", "d"] * 3
    data = tmp_path / "texts.csv"
    data.write_text("text,label\n" + "".join(f"{t.decode()},{y}\n" for t, y in zip(texts, labels)))
    subject = make_subject({"name": "csv", "task": "text-classification", "hf": str(hf_dir), "data": str(data),
                            "input": {"max_length": 16}}, subject_ctx)
    assert subject.metrics == ("accuracy", "macro_f1")
    got = np.concatenate([subject.splits().train.labels, subject.splits().calibration.labels,
                          subject.splits().evaluation.labels])
    assert sorted(got.tolist()) == sorted([1, 0, 2, 3] * 3)
