"""Which operator paths a user's model takes: `transformer` (attention heads, fewer layers) or `cnn`."""

from __future__ import annotations

import json
from pathlib import Path

from edgewise.config import SubjectConfig
from edgewise.vocabulary import CNN, IMAGE_CLASSIFICATION, TRANSFORMER


def model_family(config: SubjectConfig) -> str:
    """`transformer` for a Hugging Face model whose config states attention heads (BERT, DeBERTa,
    ViT...); otherwise by task: `transformer` for text, `cnn` for images."""
    if config.hf:
        try:
            hf_config = json.loads((Path(config.hf) / "config.json").read_text())
        except (OSError, ValueError):
            hf_config = {}
        if any(k in hf_config for k in ("num_attention_heads", "num_heads", "n_head")):
            return TRANSFORMER
    return CNN if config.task == IMAGE_CLASSIFICATION else TRANSFORMER
