"""Preprocessing that runs on the serving tier, built from a small JSON-able spec.

A client sends what a device captures (an encoded image file, a UTF-8 string); the first tier
that computes turns it into model inputs, and that time is part of the measured request.

Specs:
  {"kind": "image", "size": [H, W], "channels": 1|3, "mean": [...], "std": [...], "input": "pixel_values"}
  {"kind": "text", "tokenizer": "/path/tokenizer.json", "max_length": 128,
   "inputs": ["input_ids", "attention_mask"], "lowercase": false}
"""

from __future__ import annotations

import io
from typing import Any, Callable

import numpy as np

from edgewise.errors import DataError

Preprocessor = Callable[[bytes], dict[str, np.ndarray]]
MAX_IMAGE_PIXELS = 40_000_000  # ~ a 7,000 x 5,700 camera frame
TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # what a tokenizer gives a model


def build_preprocessor(spec: dict[str, Any]) -> Preprocessor:
    kind = spec.get("kind")
    if kind == "image":
        return _ImagePreprocessor(spec)
    if kind == "text":
        return _TextPreprocessor(spec)
    if kind == "tensor":
        return _TensorPreprocessor(spec)
    raise DataError(f"unknown preprocessing kind {kind!r}", "use image, text or tensor")


class _ImagePreprocessor:
    def __init__(self, spec: dict[str, Any]):
        from PIL import Image  # noqa: F401  (fail early if Pillow is missing)

        self.size = tuple(spec["size"])
        self.channels = int(spec.get("channels", 3))
        c = self.channels
        self.mean = np.asarray(spec.get("mean", [0.0] * c), np.float32).reshape(c, 1, 1)
        self.std = np.asarray(spec.get("std", [1.0] * c), np.float32).reshape(c, 1, 1)
        self.input = spec.get("input", "pixel_values")

    def __call__(self, payload: bytes) -> dict[str, np.ndarray]:
        from PIL import Image, UnidentifiedImageError

        try:
            img = Image.open(io.BytesIO(payload))
            # A few bytes of PNG can declare a gigapixel image: refuse before decoding.
            if img.size[0] * img.size[1] > MAX_IMAGE_PIXELS:
                raise DataError(f"image of {img.size[0]}x{img.size[1]} pixels is larger than {MAX_IMAGE_PIXELS:,}",
                                "send a smaller image")
            img = img.convert("L" if self.channels == 1 else "RGB")
            img = img.resize((self.size[1], self.size[0]), Image.BILINEAR)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DataError(f"cannot decode image payload ({exc})", "send an encoded image file (JPEG, PNG)") from None
        arr = np.asarray(img, dtype=np.float32) / 255.0
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        arr = (arr - self.mean) / self.std
        return {self.input: arr[None].astype(np.float32)}


class _TextPreprocessor:
    def __init__(self, spec: dict[str, Any]):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(spec["tokenizer"]))
        self.max_length = int(spec.get("max_length", 128))
        self.tok.enable_truncation(self.max_length)
        pad_id = spec.get("pad_id")
        if pad_id is None:
            pad_id = self.tok.token_to_id(spec.get("pad_token", "[PAD]"))
        self.tok.enable_padding(length=self.max_length, pad_id=pad_id or 0, pad_token=spec.get("pad_token", "[PAD]"))
        self.inputs = list(spec.get("inputs", ["input_ids", "attention_mask"]))
        self.lowercase = bool(spec.get("lowercase", False))

    def __call__(self, payload: bytes) -> dict[str, np.ndarray]:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError("text payload is not UTF-8", "send the text encoded as UTF-8") from None
        enc = self.tok.encode(text.lower() if self.lowercase else text)
        arrays = {
            "input_ids": np.asarray([enc.ids], np.int64),
            "attention_mask": np.asarray([enc.attention_mask], np.int64),
            "token_type_ids": np.asarray([enc.type_ids], np.int64),
        }
        return {k: arrays[k] for k in self.inputs}

    def batch(self, texts: list[str]) -> dict[str, np.ndarray]:
        encs = self.tok.encode_batch([t.lower() if self.lowercase else t for t in texts])
        arrays = {
            "input_ids": np.asarray([e.ids for e in encs], np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encs], np.int64),
            "token_type_ids": np.asarray([e.type_ids for e in encs], np.int64),
        }
        return {k: arrays[k] for k in self.inputs}


class _TensorPreprocessor:
    """Payload is already a wire-encoded tensor (the model's own input); nothing to do but decode."""

    def __init__(self, spec: dict[str, Any]):
        self.input = spec.get("input", "input")
        self.dtype = np.dtype(spec.get("dtype", "float32"))
        self.shape = tuple(spec["shape"])
        self.nbytes = int(np.prod(self.shape)) * self.dtype.itemsize

    def __call__(self, payload: bytes) -> dict[str, np.ndarray]:
        expected = self.nbytes
        if len(payload) != expected:
            raise DataError(f"tensor payload has {len(payload)} bytes, expected {expected}", f"send {self.shape} {self.dtype}")
        # A read-only view of the payload: ONNX Runtime only reads its inputs, and a copy costs a
        # request more than its bytes on a cold cache.
        return {self.input: np.frombuffer(payload, self.dtype).reshape(self.shape)}
