"""Image helpers: capture-resolution encodings for latency inputs, and user image folders."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from edgewise.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def encode_capture(image: np.ndarray, size: tuple[int, int] = (224, 224), quality: int = 90) -> bytes:
    """What a camera client would send: a uint8 image upscaled to `size` (H, W), RGB, as JPEG."""
    from PIL import Image

    img = Image.fromarray(image).convert("RGB").resize((size[1], size[0]), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def read_image_folder(root: Path) -> tuple[list[Path], np.ndarray | None, tuple[str, ...]]:
    """Image files of `root`, with labels when it has one sub-folder per class (sorted names).

    A flat folder of images is unlabeled: labels is None and the class names are empty.
    """
    if not root.is_dir():
        raise DataError(f"image folder {root} not found", "give a folder with one sub-folder per class, or of images")
    classes = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    if classes:
        files, labels = [], []
        for label, cls in enumerate(classes):
            found = sorted(p for p in (root / cls).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            files += found
            labels += [label] * len(found)
        result: tuple = (files, np.asarray(labels, np.int64), classes)
    else:
        files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        result = (files, None, ())
    if not result[0]:
        raise DataError(f"no images found in {root}", f"put {', '.join(sorted(IMAGE_SUFFIXES))} files there")
    return result
