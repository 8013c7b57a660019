"""`roberta`: a small RoBERTa trained from scratch on BBC News with its own byte-level BPE tokenizer.

The tokenizer is trained on the training split only (RoBERTa's <s> ... </s> template, <pad>)
and stored in the cache; the student is a tiny RoBERTa sharing it.
"""

from __future__ import annotations

from pathlib import Path

from edgewise.building.artifacts import content_key
from edgewise.data.text import train_byte_level_bpe
from edgewise.subjects.bbc import MAX_LENGTH, BBCNewsSubject

VOCAB_SIZE = 8000


class RobertaSubject(BBCNewsSubject):
    name = "roberta"
    pad_token = "<pad>"
    # Attention dropout is left out: on CPU it is a large share of a training step and buys nothing here.
    teacher_arch = {"hidden_size": 256, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 512,
                    "attention_probs_dropout_prob": 0.0}
    student_arch = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512}
    # From scratch on ~1,300 articles, the teacher learns more from three 90-word windows of each
    # article than from its first 128 tokens seen three times as often. Quick: the most epochs of
    # windows that fit the teacher budget (benchmarks/results/teacher-recipes.md).
    train_hyper = {"quick": {"epochs": 3.4, "lr": 5e-4, "batch_size": 16, "windows": 3},
                   "paper": {"epochs": 7, "lr": 5e-4, "batch_size": 32, "windows": 3}}

    def operator_defaults(self, operator: str) -> dict:
        # The student trains from scratch (post-LN): at the transformer default of 2e-3 it can collapse
        # to one class; 5e-4 measured best of 3e-4 / 5e-4 / 1e-3.
        # An epoch of 120 mini-batches covers every word window of the training articles, not a fifth
        # of them as the transformer default's 30 does; four such epochs (480 steps) are the quick profile.
        if operator == "distill":
            return {"quick": {"lr": 5e-4, "epochs": 4, "iterations": 120}, "paper": {"lr": 5e-4}}
        return {}

    def _tokenizer_path(self) -> Path:
        # The data is part of the key: a tokenizer trained on another split must not be reused.
        key = content_key("bbc-bpe", VOCAB_SIZE, self.ctx.seed, self._data_digest())
        path = self.ctx.cache_dir / "tokenizers" / f"roberta-bpe-{key}.json"
        if not path.exists():
            train_byte_level_bpe(self._texts()["train"][0], path, VOCAB_SIZE, MAX_LENGTH)
        return path

    def _arch(self, pretrained: bool, **sizes):
        """A RobertaForSequenceClassification of the given sizes (never pretrained: nothing to load)."""
        from transformers import RobertaConfig, RobertaForSequenceClassification

        from edgewise.subjects.modules import LogitsOnly  # lazy: pulls torch

        # Positions start after the padding index: max_length + 2 positions are needed.
        config = RobertaConfig(vocab_size=VOCAB_SIZE, max_position_embeddings=MAX_LENGTH + 2, type_vocab_size=1,
                               pad_token_id=1, bos_token_id=0, eos_token_id=2, num_labels=self.num_classes, **sizes)
        return LogitsOnly(RobertaForSequenceClassification(config))
