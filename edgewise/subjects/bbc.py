"""The BBC News text subjects' common part: stratified splits, raw-text latency inputs, tokenisation.

Articles are split 60/10/30 per topic. A client sends the article as UTF-8; the serving tier
tokenises it to MAX_LENGTH tokens (input_ids, attention_mask) with the subject's tokenizer.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgewise.building.training import fit
from edgewise.data.bbc_news import load_bbc_news
from edgewise.data.preprocess import build_preprocessor
from edgewise.data.split import Split, Splits
from edgewise.data.text import stratified_indices, word_windows
from edgewise.subjects.base import Subject
from edgewise.subjects.teachers import cached_teacher, teacher_record
from edgewise.vocabulary import QUICK, TEXT_CLASSIFICATION, TRANSFORMER, normalise_profile

MAX_LENGTH = 128
FRACTIONS = (0.6, 0.1, 0.3)


class BBCNewsSubject(Subject):
    task = TEXT_CLASSIFICATION
    family = TRANSFORMER
    trains_teacher = True
    input_names = ("input_ids", "attention_mask")
    pad_token = "[PAD]"
    # Subclasses set the architectures and the training hyper-parameters per profile.
    teacher_arch: dict[str, Any] = {}
    student_arch: dict[str, Any] = {}
    train_hyper: dict[str, dict[str, float]] = {}

    @property
    def num_classes(self) -> int:
        return 5

    def _tokenizer_path(self) -> Path:
        raise NotImplementedError

    def _arch(self, pretrained: bool, **kwargs):
        raise NotImplementedError

    def _hyper(self) -> dict[str, float]:
        return self.train_hyper.get(normalise_profile(self.ctx.profile), self.train_hyper[QUICK])

    def _texts(self) -> dict[str, tuple[list[str], np.ndarray]]:
        """Raw article texts and labels of each split."""
        if not hasattr(self, "_raw_splits"):
            texts, labels, self.topics = load_bbc_news()
            parts = stratified_indices(labels, FRACTIONS, self.ctx.seed)
            # Article numbers in the corpus, kept so disjointness can be checked.
            self.split_indices = dict(zip(("train", "calibration", "evaluation"), parts))
            self._raw_splits = {k: ([texts[i] for i in idx], labels[idx])
                                for k, idx in zip(("train", "calibration", "evaluation"), parts)}
        return self._raw_splits

    def preprocessing(self) -> dict[str, Any]:
        from tokenizers import Tokenizer

        path = self._tokenizer_path()
        pad_id = Tokenizer.from_file(str(path)).token_to_id(self.pad_token)
        return {"kind": "text", "tokenizer": str(path), "max_length": MAX_LENGTH, "inputs": list(self.input_names),
                "pad_token": self.pad_token, "pad_id": pad_id}

    def splits(self) -> Splits:
        if not hasattr(self, "_splits"):
            encode = build_preprocessor(self.preprocessing()).batch
            raw = self._texts()
            self._splits = Splits(*(Split(encode(raw[k][0]), raw[k][1]) for k in ("train", "calibration", "evaluation")))
        return self._splits

    def latency_inputs(self, n: int) -> list[bytes]:
        texts, _ = self._texts()["evaluation"]
        return [texts[i % len(texts)].encode("utf-8") for i in range(n)]

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "arch": self.teacher_arch, "train": self._hyper(),
                "data": {"dataset": "bbc-news", **self._data_digest(), "fractions": FRACTIONS, "max_length": MAX_LENGTH}}

    def _data_digest(self) -> dict[str, Any]:
        """How many articles the splits hold and a digest of their texts and labels: a teacher (or a
        tokenizer) trained on other data is never reused. Computed once: every teacher lookup asks."""
        if not hasattr(self, "_digest"):
            import hashlib

            digest = hashlib.sha256()
            for texts, labels in self._texts().values():
                digest.update("\0".join(texts).encode())
                digest.update(np.asarray(labels, np.int64).tobytes())
            self._digest = {"articles": sum(len(t) for t, _ in self._texts().values()),
                            "digest": digest.hexdigest()[:16]}
        return self._digest

    def teacher(self):
        hyper = self._hyper()

        def train():
            module = self._arch(pretrained=True, **self.teacher_arch)
            self._freeze_for_training(module, int(hyper.get("frozen_layers", 0)))
            return fit(module, self.training_data(), epochs=hyper["epochs"], lr=hyper["lr"],
                       batch_size=int(hyper["batch_size"]), weight_decay=0.01, seed=self.ctx.seed,
                       device=self.ctx.device, log=self.ctx.log)

        return cached_teacher(self, train)

    def training_data(self) -> Split:
        """The train split, or with `windows` > 1 in the training hyper-parameters, each article's
        further word windows too (see data.text.word_windows)."""
        windows = int(self._hyper().get("windows", 1))
        if windows <= 1:
            return self.splits().train
        if not hasattr(self, "_windowed"):
            texts, labels = word_windows(*self._texts()["train"], windows)
            self._windowed = Split(build_preprocessor(self.preprocessing()).batch(texts), labels)
        return self._windowed

    def _freeze_for_training(self, module, layers: int) -> None:
        """Hook for subjects that fine-tune a pretrained encoder with its lower layers frozen."""

    def student(self):
        return self._arch(pretrained=False, **self.student_arch)

    def describe(self) -> dict[str, Any]:
        record = teacher_record(self)
        return {**super().describe(), "dataset": "BBC News (5 topics)",
                "parameters": sum(p.numel() for p in self._arch(pretrained=False, **self.teacher_arch).parameters()),
                "input": f"UTF-8 article -> {MAX_LENGTH} tokens",
                "teacher_quality": record["quality"] if record else None}
