"""Built-in subjects without training: splits, latency inputs against preprocessing, offline loading."""

from __future__ import annotations

import numpy as np
import pytest

from edgewise.data.preprocess import build_preprocessor
from edgewise.subjects import get_subject


@pytest.fixture(scope="module")
def resnet(subject_ctx):
    return get_subject("resnet", subject_ctx)


@pytest.fixture(scope="module")
def roberta(subject_ctx):
    return get_subject("roberta", subject_ctx)


def _assert_disjoint(index: dict[str, np.ndarray]) -> None:
    train, cal, ev = (set(index[k].tolist()) for k in ("train", "calibration", "evaluation"))
    assert not (train & cal or train & ev or cal & ev)


def test_fashion_splits_are_disjoint_sized_and_seeded(resnet, subject_ctx):
    splits = resnet.splits()
    assert splits.train.inputs["pixel_values"].shape[1:] == (1, 28, 28)
    assert (len(splits.train), len(splits.calibration), len(splits.evaluation)) == (20000, 200, 2000)
    index = resnet.split_indices  # train and calibration rows of the train file; evaluation rows of t10k
    assert not set(index["train"].tolist()) & set(index["calibration"].tolist())
    assert len(set(index["evaluation"].tolist())) == 2000
    other = get_subject("resnext", subject_ctx)
    assert np.array_equal(other.splits().calibration.labels, splits.calibration.labels)


def test_image_latency_input_preprocesses_to_the_evaluation_tensor(resnet):
    payloads = resnet.latency_inputs(3)
    assert payloads[0][:2] == b"\xff\xd8"  # JPEG
    pre = build_preprocessor(resnet.preprocessing())
    for i, payload in enumerate(payloads):
        got = pre(payload)["pixel_values"][0]
        want = resnet.splits().evaluation.inputs["pixel_values"][i]
        # Upscaling to 224, JPEG at quality 90 and downscaling again blur by a few grey levels.
        assert np.abs(got - want).mean() * 0.353 < 0.05
        assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.95


def test_capture_resolution_is_configurable(subject_ctx):
    import io

    from PIL import Image

    from edgewise.subjects.resnet import WideResNetSubject

    subject = WideResNetSubject(subject_ctx, capture_size=(96, 128), jpeg_quality=70)
    assert Image.open(io.BytesIO(subject.latency_inputs(1)[0])).size == (128, 96)


def test_text_splits_are_stratified_and_disjoint(roberta):
    splits = roberta.splits()
    _assert_disjoint(roberta.split_indices)
    assert len(splits.train) + len(splits.calibration) + len(splits.evaluation) == 2127
    assert splits.train.inputs["input_ids"].shape[1] == 128
    assert np.bincount(splits.evaluation.labels).tolist() == [151, 111, 121, 152, 104]
    texts = roberta._texts()
    assert not set(texts["evaluation"][0]) & set(texts["train"][0])  # the corpus repeats articles: none leaks


def test_roberta_trains_on_word_windows_of_its_training_articles_only(roberta):
    train = roberta.splits().train
    windowed = roberta.training_data()
    assert len(windowed) > 2 * len(train)  # most articles are longer than 180 words
    # Each article comes first as served (the same tokens as the train split), then its windows.
    assert np.array_equal(windowed.inputs["input_ids"][0], train.inputs["input_ids"][0])
    assert set(np.unique(windowed.labels)) == set(np.unique(train.labels))


@pytest.mark.parametrize("name", ["bert", "roberta"])
def test_text_latency_input_tokenises_to_the_evaluation_ids(name, subject_ctx):
    subject = get_subject(name, subject_ctx)
    pre = build_preprocessor(subject.preprocessing())
    evaluation = subject.splits().evaluation
    for i, payload in enumerate(subject.latency_inputs(4)):
        got = pre(payload)
        assert set(got) == {"input_ids", "attention_mask"}
        assert np.array_equal(got["input_ids"][0], evaluation.inputs["input_ids"][i])
        assert np.array_equal(got["attention_mask"][0], evaluation.inputs["attention_mask"][i])


def test_roberta_tokenizer_uses_roberta_specials(roberta):
    ids = roberta.splits().evaluation.inputs["input_ids"]
    mask = roberta.splits().evaluation.inputs["attention_mask"]
    assert (ids[:, 0] == 0).all()  # <s>
    short = np.flatnonzero(mask[:, -1] == 0)
    if len(short):
        row = short[0]
        assert ids[row, mask[row].sum() - 1] == 2 and ids[row, -1] == 1  # </s> then <pad>


def test_minilm_loads_offline_and_student_is_a_third_of_it(subject_ctx, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bert = get_subject("bert", subject_ctx)
    teacher = bert._arch(pretrained=True, **bert.teacher_arch)
    student = bert.student()
    assert len(teacher.model.bert.encoder.layer) == 6 and len(student.model.bert.encoder.layer) == 2
    # The student starts from MiniLM's first layers, not from random weights.
    import torch

    assert torch.equal(student.model.bert.encoder.layer[1].output.dense.weight,
                       teacher.model.bert.encoder.layer[1].output.dense.weight)
    feeds = {k: torch.from_numpy(v) for k, v in bert.splits().calibration.batch(slice(0, 2)).items()}
    assert teacher(**feeds).shape == (2, 5)


@pytest.mark.parametrize("name", ["resnet", "resnext", "bert", "roberta"])
def test_describe_without_training(name, subject_ctx):
    info = get_subject(name, subject_ctx).describe()
    assert info["name"] == name and info["parameters"] > 0 and info["teacher_quality"] is None
    assert info["metrics"] == (["top1", "top5"] if name.startswith("res") else ["accuracy", "macro_f1"])
