"""Tiny synthetic subjects (a CNN and a BERT-style transformer) that train in seconds.

They exercise every seam with real models and real runtimes: the conformance suites and the
fast tests use them, and `edgewise run` accepts them as a smoke study.
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np

from edgewise.building.training import fit
from edgewise.data.preprocess import build_preprocessor
from edgewise.data.split import Split, Splits
from edgewise.subjects.base import Subject
from edgewise.subjects.modules import LogitsOnly, TinyConvNet
from edgewise.subjects.teachers import cached_teacher
from edgewise.vocabulary import CNN, IMAGE_CLASSIFICATION, TEXT_CLASSIFICATION, TRANSFORMER

_IMAGE = 16  # working resolution of tiny-cnn
_CLASSES = 4


def _tiny_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class c lights quadrant c of a noisy 16x16 image: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, _CLASSES, n)
    x = rng.normal(0.3, 0.15, (n, 1, _IMAGE, _IMAGE)).astype(np.float32)
    h = _IMAGE // 2
    for i, c in enumerate(y):
        r, col = divmod(int(c), 2)
        x[i, 0, r * h : (r + 1) * h, col * h : (col + 1) * h] += 0.5
    return np.clip(x, 0, 1).astype(np.float32), y.astype(np.int64)


class _TinySubject(Subject):
    """Teachers trained in seconds, cached like the built-in subjects' (their recipe is in the key)."""

    trains_teacher = True
    teacher_recipe: ClassVar[dict[str, Any]] = {}  # architecture sizes, epochs, lr

    def _arch(self, *sizes: int):
        raise NotImplementedError

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "teacher": self.teacher_recipe}

    def teacher(self):
        r = self.teacher_recipe
        return cached_teacher(self, lambda: fit(self._arch(*r["sizes"]), self.splits().train, epochs=r["epochs"],
                                                lr=r["lr"], batch_size=32, seed=self.ctx.seed))


class TinyCNN(_TinySubject):
    name = "tiny-cnn"
    task = IMAGE_CLASSIFICATION
    family = CNN
    input_names = ("pixel_values",)
    student_arch = {"width": 8}
    teacher_recipe = {"sizes": [16], "epochs": 3, "lr": 3e-3}

    @property
    def num_classes(self) -> int:
        return _CLASSES

    def preprocessing(self) -> dict[str, Any]:
        return {"kind": "image", "size": [_IMAGE, _IMAGE], "channels": 1, "mean": [0.0], "std": [1.0],
                "input": "pixel_values"}

    def splits(self) -> Splits:
        if not hasattr(self, "_splits"):
            x, y = _tiny_images(1400, self.ctx.seed)
            self._raw = x
            self._splits = Splits(Split({"pixel_values": x[:1000]}, y[:1000]),
                                  Split({"pixel_values": x[1000:1100]}, y[1000:1100]),
                                  Split({"pixel_values": x[1100:]}, y[1100:]))
        return self._splits

    def latency_inputs(self, n: int) -> list[bytes]:
        from PIL import Image

        ev = self.splits().evaluation
        out = []
        for i in range(n):
            img = (ev.inputs["pixel_values"][i % len(ev), 0] * 255).astype(np.uint8)
            buf = io.BytesIO()
            Image.fromarray(img).resize((64, 64)).convert("RGB").save(buf, "JPEG", quality=95)
            out.append(buf.getvalue())
        return out

    def _arch(self, width: int):
        return TinyConvNet(width, _CLASSES)

    def operator_defaults(self, operator: str) -> dict:
        # Four-channel layers after pruning recover only with a brisker fine-tuning.
        if operator == "prune":
            return {"quick": {"lr": 5e-3, "epochs": 6}}
        return {}

    def student(self):
        return self._arch(self.student_arch["width"])


_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + [f"w{i}" for i in range(60)]


def banded_texts(n: int, seed: int, classes: int = _CLASSES, own: float = 0.7,
                 words: tuple[int, int] = (6, 14)) -> tuple[list[str], np.ndarray]:
    """Class c draws a share `own` of its words from its own band of the vocabulary (15 words each)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    texts = []
    for c in y:
        drawn = [f"w{int(c) * 15 + int(rng.integers(0, 15))}" if rng.random() < own else f"w{int(rng.integers(0, 60))}"
                 for _ in range(int(rng.integers(*words)))]
        texts.append(" ".join(drawn))
    return texts, y.astype(np.int64)


class TinyTransformer(_TinySubject):
    name = "tiny-bert"
    task = TEXT_CLASSIFICATION
    family = TRANSFORMER
    input_names = ("input_ids", "attention_mask")
    max_length = 16
    # Half the teacher's depth. A 16-wide student learned this task in a sudden jump that some
    # seeds never reached within the quick schedule.
    student_arch = {"width": 32, "layers": 1}
    # 8 epochs: 2 of 6 seeds never learned the task; 16 learn on all.
    teacher_recipe = {"sizes": [32, 2], "epochs": 16, "lr": 3e-3}

    @property
    def num_classes(self) -> int:
        return _CLASSES

    def _tokenizer_path(self):
        from tokenizers import Tokenizer, models, pre_tokenizers, processors

        path = self.ctx.cache_dir / "tiny-bert-tokenizer.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(_VOCAB)}, unk_token="[UNK]"))
            tok.pre_tokenizer = pre_tokenizers.Whitespace()
            tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
            tmp = path.with_suffix(".tmp")
            tok.save(str(tmp))
            tmp.replace(path)
        return path

    def preprocessing(self) -> dict[str, Any]:
        return {"kind": "text", "tokenizer": str(self._tokenizer_path()), "max_length": self.max_length,
                "inputs": list(self.input_names), "pad_token": "[PAD]", "pad_id": 0}

    def _texts(self):
        if not hasattr(self, "_data"):
            self._data = banded_texts(1400, self.ctx.seed)
        return self._data

    def splits(self) -> Splits:
        if not hasattr(self, "_splits"):
            texts, y = self._texts()
            enc = build_preprocessor(self.preprocessing()).batch(texts)
            cut = lambda a, b: Split({k: v[a:b] for k, v in enc.items()}, y[a:b])  # noqa: E731
            self._splits = Splits(cut(0, 1000), cut(1000, 1100), cut(1100, 1400))
        return self._splits

    def latency_inputs(self, n: int) -> list[bytes]:
        texts, _ = self._texts()
        return [texts[1100 + i % 300].encode() for i in range(n)]

    def _arch(self, hidden: int, layers: int):
        from transformers import BertConfig, BertForSequenceClassification

        cfg = BertConfig(vocab_size=len(_VOCAB), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                         intermediate_size=2 * hidden, max_position_embeddings=self.max_length, num_labels=_CLASSES)
        return LogitsOnly(BertForSequenceClassification(cfg))

    def student(self):
        return self._arch(self.student_arch["width"], self.student_arch["layers"])
