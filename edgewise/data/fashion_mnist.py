"""Fashion-MNIST from the Debian package dataset-fashion-mnist (gzip'd IDX files)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from edgewise.errors import DataError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
MEAN, STD = 0.2860, 0.3530  # pixel statistics of the training file, on [0, 1]

# IDX type codes (third byte of the magic number) -> numpy dtype, big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (optionally gzip'd) as an array of its declared dtype and shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        blob = f.read()
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file", "give the original *-ubyte(.gz) file")
    ndim = blob[3]
    shape = struct.unpack(f">{ndim}I", blob[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[blob[2]])
    data = np.frombuffer(blob, dtype, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path} holds {data.size} values, its header says {shape}", "the file is truncated: reinstall it")
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def load_fashion_mnist(part: str, root: Path = FASHION_MNIST_DIR) -> tuple[np.ndarray, np.ndarray]:
    """Images [N, 28, 28] uint8 and labels [N] int64 of the `train` or `t10k` file."""
    images = root / f"{part}-images-idx3-ubyte.gz"
    labels = root / f"{part}-labels-idx1-ubyte.gz"
    for p in (images, labels):
        if not p.exists():
            raise DataError(f"Fashion-MNIST file {p} not found", "install it: apt-get install dataset-fashion-mnist")
    x, y = read_idx(images), read_idx(labels)
    if len(x) != len(y):
        raise DataError(f"{images.name} has {len(x)} images but {labels.name} {len(y)} labels", "reinstall the package")
    return x, y.astype(np.int64)
