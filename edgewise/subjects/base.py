"""The Subject seam: a model to deploy, with its task, data, metric and preprocessing.

Built-in subjects register themselves by subclassing `Subject` with a `name`; a user's models
come through the adapters in `edgewise.subjects.user`.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgewise.data.split import Splits
from edgewise.errors import PlanError
from edgewise.vocabulary import CNN, IMAGE_CLASSIFICATION, QUICK

SUBJECTS: dict[str, type["Subject"]] = {}


@dataclass
class SubjectContext:
    """What a subject needs to prepare itself: where to cache, which seed, how much to train."""

    cache_dir: Path
    seed: int = 0
    profile: str = QUICK  # quick | paper
    device: str = "cpu"
    log: Any = field(default=print)


class Subject(ABC):
    """A model family + task. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str] = ""
    task: ClassVar[str] = IMAGE_CLASSIFICATION  # or text-classification
    family: ClassVar[str] = CNN  # cnn | transformer (decides transformer-specific operator paths)
    input_names: ClassVar[tuple[str, ...]] = ("pixel_values",)
    output_name: ClassVar[str] = "logits"
    has_torch: ClassVar[bool] = True  # False for ONNX-only subjects: white-box operators refuse them
    trains_teacher: ClassVar[bool] = False  # True: teacher() trains it into the cache (subjects.teachers)

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if cls.name and not getattr(cls, "__abstractmethods__", None):
            SUBJECTS[cls.name] = cls

    def __init__(self, ctx: SubjectContext):
        self.ctx = ctx

    # --- data -------------------------------------------------------------------------------
    @abstractmethod
    def splits(self) -> Splits:
        """Train / calibration / evaluation, disjoint, model-ready, fixed by ctx.seed."""

    @abstractmethod
    def latency_inputs(self, n: int) -> list[bytes]:
        """What a client transmits: encoded image files or UTF-8 text, n of them, from held-out data."""

    @abstractmethod
    def preprocessing(self) -> dict[str, Any]:
        """The preprocessing spec the serving tier runs (see edgewise.data.preprocess)."""

    @property
    def num_classes(self) -> int:
        return 10

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("top1", "top5") if self.task == IMAGE_CLASSIFICATION else ("accuracy", "macro_f1")

    # --- models -----------------------------------------------------------------------------
    def teacher(self):
        """The trained model (torch.nn.Module taking the input names as keywords, returning logits)."""
        raise PlanError(f"subject {self.name!r} has no PyTorch model", "white-box operators need a PyTorch or Hugging Face source")

    def student(self):
        """The smaller, untrained architecture that distillation trains."""
        raise PlanError(f"subject {self.name!r} has no student architecture", "give one or leave distillation out")

    def onnx_model(self) -> Path | None:
        """An ONNX file to start from instead of exporting the teacher (ONNX-only subjects)."""
        return None

    def training_data(self):
        """What the teacher and the white-box operators train on: the train split, unless the subject
        augments it (it must depend only on the train split and on what the fingerprint holds)."""
        return self.splits().train

    def student_fingerprint(self) -> Any:
        """What the student architecture depends on: distilled artifacts are rebuilt when it changes."""
        return getattr(self, "student_arch", None)

    def operator_defaults(self, operator: str) -> dict[str, Any]:
        """Parameters this subject suggests for an operator (e.g. a gentler schedule for a pretrained
        student). The study file's parameters win over these; they are part of the artifact's key."""
        return {}

    def fingerprint(self) -> dict[str, Any]:
        """What the trained teacher depends on (architecture, data, hyper-parameters, seed): its cache key."""
        return {"name": self.name, "seed": self.ctx.seed, "profile": self.ctx.profile}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.task, "family": self.family, "inputs": list(self.input_names),
                "metrics": list(self.metrics)}


def score(metric_names: tuple[str, ...], logits: np.ndarray, labels: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    """Metrics (as fractions) and per-sample top-1 correctness of logits against labels."""
    pred = logits.argmax(axis=1)
    correct = pred == labels
    out: dict[str, float] = {}
    for m in metric_names:
        if m in ("top1", "accuracy", "agreement"):
            out[m] = float(correct.mean())
        elif m == "top5":
            k = min(5, logits.shape[1])
            top = np.argsort(-logits, axis=1)[:, :k]
            out[m] = float((top == labels[:, None]).any(axis=1).mean())
        elif m == "macro_f1":
            out[m] = _macro_f1(pred, labels, logits.shape[1])
    return out, correct


def _macro_f1(pred: np.ndarray, labels: np.ndarray, n: int) -> float:
    f1s = []
    for c in range(n):
        tp = np.sum((pred == c) & (labels == c))
        fp = np.sum((pred == c) & (labels != c))
        fn = np.sum((pred != c) & (labels == c))
        if tp + fp + fn == 0:
            continue
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s)) if f1s else 0.0


def get_subject(name: str, ctx: SubjectContext) -> Subject:
    _load_builtins()
    if name not in SUBJECTS:
        raise PlanError(f"unknown subject {name!r}", f"use one of {', '.join(sorted(SUBJECTS))} or a mapping for your own model")
    return SUBJECTS[name](ctx)


def _load_builtins() -> None:
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):  # this package's own modules
        if mod.name not in ("base", "modules"):
            importlib.import_module(f"edgewise.subjects.{mod.name}")
