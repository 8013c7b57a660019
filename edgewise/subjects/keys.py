"""The keys a user's subject takes under `input:` and `options:` in the study file: the one home of
their names and meanings (docs/your-model.md lists them; a test keeps the two in step)."""

from __future__ import annotations

from edgewise.errors import ConfigError

INPUT_KEYS: dict[str, str] = {
    "size": "image: [H, W] (or one number) the tier resizes every image to; required for images",
    "channels": "image: 1 (grey) or 3 (RGB, the default)",
    "mean": "image: per-channel mean subtracted after scaling pixels to [0, 1] (default 0)",
    "std": "image: per-channel divisor after the mean (default 1)",
    "name": "image: the model input the pixels go to (default: read from the model)",
    "tokenizer": "text: a tokenizer.json or a folder holding one (default: the hf: folder's)",
    "max_length": "text: tokens per text, truncated or padded (default 128)",
    "inputs": "text: the tokenizer outputs the model takes, among input_ids, attention_mask, token_type_ids "
              "(default: read from the model)",
    "pad_token": "text: the padding token (default [PAD])",
    "pad_id": "text: the padding token's id (default: the tokenizer's id of pad_token)",
    "lowercase": "text: lower-case texts before tokenizing (default false)",
}

OPTION_KEYS: dict[str, str] = {
    "split": "fractions [train, calibration, evaluation] of the data (default [0.6, 0.1, 0.3])",
    "classes": "label names in class-index order (default: the sorted names found in the data)",
    "student": "package.module:factory of the smaller model distill trains",
}


def check_keys(subject: str, section: str, given: dict, known: dict[str, str]) -> None:
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigError(f"subject {subject!r}: unknown {section} key(s) {unknown}",
                          f"valid {section} keys: {', '.join(known)} (docs/your-model.md)")
