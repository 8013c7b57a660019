"""Conformance of a Subject: what the study relies on from every model + task it measures.

- `check_declarations`: name, task, family, input names and metrics are ones the study understands;
- `check_splits`: train, calibration and evaluation are non-empty, carry every model input and labels in
  range, no evaluation row appears in train or calibration, and (where the subject says which source rows
  each split took, `split_indices`) no source row is in two splits;
- `check_latency_inputs`: what a client sends is bytes, and the serving tier's preprocessing turns it into
  tensors of the names, dtypes and per-row shapes the evaluation split (what the model takes) has;
- `check_model_forward`: a model of the subject answers a preprocessed latency input with one finite row
  of `num_classes` logits;
- `check_metrics`: `score` gives every declared metric as a fraction, 1.0 top-1 on perfect logits.

`check_subject(subject, model)` runs all of them. `model` defaults to `subject.teacher()`, which trains
the teacher where the subject trains its own (minutes for the built-in resnet, resnext, bert, roberta):
pass `subject.student()` (the untrained architecture of the same inputs and outputs) to keep a check
cheap, as edgewise's own suite does for those four; tiny subjects are checked with their teacher.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from edgewise.data.preprocess import build_preprocessor
from edgewise.subjects.base import SUBJECTS, Subject, _load_builtins, score
from edgewise.vocabulary import FAMILIES, TASKS

KNOWN_METRICS = ("top1", "top5", "accuracy", "macro_f1", "agreement")


def builtin_subject_names() -> list[str]:
    """Every registered subject, sorted: what a suite parametrises over."""
    _load_builtins()
    return sorted(SUBJECTS)


def check_declarations(subject: Subject) -> None:
    assert isinstance(subject.name, str) and subject.name, "a subject needs a name"
    assert subject.task in TASKS, f"{subject.name}: task {subject.task!r} not in {TASKS}"
    assert subject.family in FAMILIES, f"{subject.name}: family {subject.family!r} not in {FAMILIES}"
    assert subject.input_names, f"{subject.name}: no input names"
    assert subject.metrics and set(subject.metrics) <= set(KNOWN_METRICS), f"{subject.name}: metrics {subject.metrics}"
    assert subject.num_classes >= 2, f"{subject.name}: {subject.num_classes} classes"


def _row_digests(split) -> set[str]:
    names = sorted(split.inputs)
    return {hashlib.sha1(b"".join(np.ascontiguousarray(split.inputs[n][i]).tobytes() for n in names)).hexdigest()
            for i in range(len(split))}


def check_splits(subject: Subject) -> None:
    splits = subject.splits()
    parts = {"train": splits.train, "calibration": splits.calibration, "evaluation": splits.evaluation}
    for role, split in parts.items():
        assert len(split) > 0, f"{subject.name}: empty {role} split"
        assert set(subject.input_names) <= set(split.inputs), f"{subject.name}: {role} lacks model inputs"
        assert all(len(v) == len(split) for v in split.inputs.values()), f"{subject.name}: {role} rows differ"
        assert split.labels is not None and len(split.labels) == len(split), f"{subject.name}: {role} labels"
        assert 0 <= split.labels.min() and split.labels.max() < subject.num_classes, f"{subject.name}: {role} labels"
    # Source rows never in two splits; the model-ready evaluation rows never seen in training or calibration
    # (a corpus that repeats a text may give a train and a calibration row the same tokens: no leak).
    index = getattr(subject, "split_indices", None)
    if isinstance(index, dict) and {"train", "calibration"} <= set(index):
        assert not set(index["train"].tolist()) & set(index["calibration"].tolist()), \
            f"{subject.name}: a source row is in both train and calibration"
    digests = {role: _row_digests(split) for role, split in parts.items()}
    for a in ("train", "calibration"):
        shared = digests[a] & digests["evaluation"]
        assert not shared, f"{subject.name}: {len(shared)} identical rows in both {a} and evaluation"


def preprocessed_latency_inputs(subject: Subject, n: int = 2) -> list[dict[str, np.ndarray]]:
    preprocess = build_preprocessor(subject.preprocessing())
    return [preprocess(payload) for payload in subject.latency_inputs(n)]


def check_latency_inputs(subject: Subject, n: int = 2) -> None:
    payloads = subject.latency_inputs(n)
    assert len(payloads) == n, f"{subject.name}: asked for {n} latency inputs, got {len(payloads)}"
    assert all(isinstance(p, bytes) and p for p in payloads), f"{subject.name}: latency inputs must be non-empty bytes"
    evaluation = subject.splits().evaluation.batch(slice(0, 1))
    for tensors in preprocessed_latency_inputs(subject, n):
        for name in subject.input_names:
            assert name in tensors, f"{subject.name}: preprocessing gives no {name!r}"
            got, want = tensors[name], evaluation[name]
            assert got.shape == want.shape, f"{subject.name}: {name} preprocesses to {got.shape}, the model takes {want.shape}"
            assert got.dtype == want.dtype, f"{subject.name}: {name} preprocesses to {got.dtype}, the model takes {want.dtype}"


def check_model_forward(subject: Subject, model: Any) -> None:
    import torch

    tensors = preprocessed_latency_inputs(subject, 1)[0]
    model.eval()
    with torch.no_grad():
        logits = model(**{n: torch.from_numpy(tensors[n]) for n in subject.input_names})
    logits = getattr(logits, "logits", logits)
    assert tuple(logits.shape) == (1, subject.num_classes), f"{subject.name}: logits of shape {tuple(logits.shape)}"
    assert torch.isfinite(logits).all(), f"{subject.name}: non-finite logits"


def check_metrics(subject: Subject) -> None:
    labels = subject.splits().evaluation.labels[:50]
    perfect = np.eye(subject.num_classes, dtype=np.float32)[labels]
    metrics, correct = score(subject.metrics, perfect, labels)
    assert set(metrics) == set(subject.metrics), f"{subject.name}: score gives {sorted(metrics)}"
    assert correct.all() and metrics[subject.metrics[0]] == 1.0, f"{subject.name}: perfect logits do not score 1"
    noise = np.random.default_rng(0).normal(size=perfect.shape).astype(np.float32)
    assert all(0.0 <= v <= 1.0 for v in score(subject.metrics, noise, labels)[0].values())


def check_subject(subject: Subject, model: Any = None) -> None:
    """Every subject check; `model` defaults to the subject's teacher (see the module's note on cost)."""
    check_declarations(subject)
    check_splits(subject)
    check_latency_inputs(subject)
    check_metrics(subject)
    if subject.has_torch:
        check_model_forward(subject, subject.teacher() if model is None else model)
