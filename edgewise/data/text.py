"""Text data helpers: stratified splits, user text files (CSV / JSONL), BPE tokenizer training."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from edgewise.errors import DataError


def stratified_indices(labels: np.ndarray, fractions: tuple[float, float, float],
                       seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint train / calibration / evaluation indices with each class in the given fractions."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_train = int(round(fractions[0] * len(idx)))
        n_cal = int(round(fractions[1] * len(idx)))
        for part, chunk in zip(parts, (idx[:n_train], idx[n_train : n_train + n_cal], idx[n_train + n_cal :])):
            part.append(chunk)
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


def word_windows(texts: list[str], labels: np.ndarray, windows: int, width: int = 90,
                 min_words: int = 30) -> tuple[list[str], np.ndarray]:
    """Each text whole (as served: the tokenizer keeps its head) plus up to `windows - 1` further
    windows of `width` words, each labelled as its text.

    Training on later windows shows a model more of every article than the first max_length
    tokens; a window shorter than `min_words` is left out.
    """
    out, out_labels = [], []
    for text, label in zip(texts, labels):
        words = text.split()
        out.append(text)
        out_labels.append(label)
        for k in range(1, windows):
            part = words[k * width : (k + 1) * width]
            if len(part) < min_words:
                break
            out.append(" ".join(part))
            out_labels.append(label)
    return out, np.asarray(out_labels)


def read_text_file(path: Path) -> tuple[list[str], list[str] | None]:
    """Texts and (optional) raw labels of a CSV with a `text` column or a JSONL of {"text", "label"}."""
    if not path.exists():
        raise DataError(f"text data {path} not found", "give a CSV or JSONL file with a text field")
    rows: list[dict] = []
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    elif path.suffix.lower() in (".jsonl", ".ndjson"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise DataError(f"{path}:{n} is not valid JSON", "write one JSON object per line") from None
    else:
        raise DataError(f"unsupported text data file {path.name}", "use .csv or .jsonl")
    if not rows or any("text" not in r for r in rows):
        raise DataError(f"{path} has rows without a 'text' field", "give every row a text (and optionally a label)")
    texts = [str(r["text"]) for r in rows]
    has_labels = [r.get("label") not in (None, "") for r in rows]
    if any(has_labels) and not all(has_labels):
        raise DataError(f"{path}: some rows have a label and some do not", "label every row or none")
    return texts, ([str(r["label"]) for r in rows] if all(has_labels) else None)


def train_byte_level_bpe(texts: list[str], path: Path, vocab_size: int, max_length: int) -> Path:
    """A RoBERTa-style byte-level BPE tokenizer (<s> ... </s>, <pad>) trained on `texts`, saved as JSON."""
    from tokenizers import ByteLevelBPETokenizer, processors

    tok = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, the RoBERTa convention
    tok.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=specials,
                            show_progress=False)
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
    tok.enable_truncation(max_length)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tok.save(str(tmp))
    tmp.replace(path)
    return path
