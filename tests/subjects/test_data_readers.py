"""Dataset readers: IDX parsing, Fashion-MNIST files, BBC News topics and label order."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from edgewise.data.bbc_news import load_bbc_news
from edgewise.data.fashion_mnist import load_fashion_mnist, read_idx
from edgewise.data.text import read_text_file, stratified_indices, word_windows
from edgewise.errors import DataError


def _write_idx(path, array: np.ndarray, type_code: int, compress: bool) -> None:
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    blob = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    (gzip.open if compress else open)(path, "wb").write(blob)


@pytest.mark.parametrize("compress", [True, False])
def test_idx_round_trip(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    ints = np.array([-5, 70000, 3], dtype=np.int32)
    _write_idx(tmp_path / "a.idx.gz" if compress else tmp_path / "a.idx", images, 0x08, compress)
    _write_idx(tmp_path / "b.idx", ints, 0x0C, False)
    got = read_idx(tmp_path / ("a.idx.gz" if compress else "a.idx"))
    assert got.shape == (2, 3, 4) and np.array_equal(got, images)
    assert np.array_equal(read_idx(tmp_path / "b.idx"), ints)


def test_idx_rejects_truncated_and_foreign_files(tmp_path):
    _write_idx(tmp_path / "t.idx", np.zeros((4, 5), np.uint8), 0x08, False)
    (tmp_path / "t.idx").write_bytes((tmp_path / "t.idx").read_bytes()[:-3])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "t.idx")
    (tmp_path / "x.idx").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match="not an IDX"):
        read_idx(tmp_path / "x.idx")


def test_fashion_mnist_files():
    x, y = load_fashion_mnist("t10k")
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert set(np.unique(y)) == set(range(10)) and np.bincount(y).tolist() == [1000] * 10


def test_fashion_mnist_missing_file_says_how_to_install(tmp_path):
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load_fashion_mnist("train", root=tmp_path)


def test_bbc_news_has_stable_sorted_labels():
    texts, labels, topics = load_bbc_news()
    assert topics == ("business", "entertainment", "politics", "sports", "tech")
    assert len(texts) == len(labels) == 2127  # 2,225 files, 98 of them repeating another article
    assert len(set(texts)) == len(texts)
    assert np.bincount(labels).tolist() == [503, 369, 403, 505, 347]
    again_texts, again_labels, _ = load_bbc_news()
    assert again_texts == texts and np.array_equal(again_labels, labels)
    assert all(t.strip() for t in texts)


def test_stratified_split_is_disjoint_and_keeps_proportions():
    labels = np.repeat(np.arange(3), [100, 50, 30])
    train, cal, ev = stratified_indices(labels, (0.6, 0.1, 0.3), seed=3)
    assert len(set(train) | set(cal) | set(ev)) == len(train) + len(cal) + len(ev) == 180
    assert np.bincount(labels[ev]).tolist() == [30, 15, 9]
    assert np.array_equal(stratified_indices(labels, (0.6, 0.1, 0.3), seed=3)[2], ev)


def test_text_files_csv_and_jsonl(tmp_path):
    (tmp_path / "a.csv").write_text("text,label\nhello world,pos\n\"a, b\",neg\n")
    assert read_text_file(tmp_path / "a.csv") == (["hello world", "a, b"], ["pos", "neg"])
    (tmp_path / "b.jsonl").write_text('{"text": "one"}\n\n{"text": "two"}\n')
    assert read_text_file(tmp_path / "b.jsonl") == (["one", "two"], None)
    (tmp_path / "c.jsonl").write_text('{"text": "one", "label": 1}\n{"text": "two"}\n')
    with pytest.raises(DataError, match="label every row"):
        read_text_file(tmp_path / "c.jsonl")


def test_word_windows_keep_each_text_then_its_later_windows():
    long = " ".join(f"w{i}" for i in range(250))
    short = "a short text"
    texts, labels = word_windows([long, short], np.array([3, 1]), windows=3, width=90, min_words=30)
    assert texts[0] == long and texts[3] == short
    assert texts[1].split() == [f"w{i}" for i in range(90, 180)]
    assert texts[2].split() == [f"w{i}" for i in range(180, 250)]  # 70 words: kept
    assert labels.tolist() == [3, 3, 3, 1]
    texts, _ = word_windows([long], np.array([0]), windows=3, width=90, min_words=80)
    assert len(texts) == 2  # the 70-word tail is too short
