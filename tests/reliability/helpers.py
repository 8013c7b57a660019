"""Shared pieces of the reliability tests: a user's ONNX model and images, the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SIZE = 16
CLASSES = 4


def linear_onnx(path: Path, extra_mb: int = 0) -> Path:
    """pixel_values [N,1,16,16] -> logits [N,4] through one MatMul; `extra_mb` of weights it really reads.

    The extra weights are gathered at a runtime index (not a constant), so no optimiser folds them
    away: a tier that loads the model must hold them in memory.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.normal(size=(SIZE * SIZE, CLASSES)).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([-1, SIZE * SIZE], np.int64), "flat")
    nodes = [helper.make_node("Reshape", ["pixel_values", "flat"], ["x"]),
             helper.make_node("MatMul", ["x", "w"], ["logits" if not extra_mb else "raw"])]
    inits = [weights, shape]
    if extra_mb:
        rows = extra_mb * 2**20 // (4 * CLASSES)
        big = np.zeros((rows, CLASSES), np.float32)
        inits.append(numpy_helper.from_array(big, "big"))
        # index = (sum of the input) * 0, cast to int64: known only at run time, always row 0
        nodes += [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
                  helper.make_node("Mul", ["s", "zero"], ["s0"]),
                  helper.make_node("Cast", ["s0"], ["row"], to=TensorProto.INT64),
                  helper.make_node("Gather", ["big", "row"], ["bias"], axis=0),
                  helper.make_node("Add", ["raw", "bias"], ["logits"])]
        inits.append(numpy_helper.from_array(np.zeros((), np.float32), "zero"))
    graph = helper.make_graph(
        nodes, "linear",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["N", 1, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def png_folder(root: Path, n: int = 30, size: int = SIZE) -> Path:
    """`n` grey-scale PNGs of `size` pixels, flat (unlabeled: scored by agreement)."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(root / f"{i:03d}.png")
    return root


def user_subject(name: str, onnx_path: Path, data: Path, size: int = SIZE, channels: int = 1) -> dict:
    return {"name": name, "onnx": str(onnx_path), "data": str(data),
            "input": {"size": size, "channels": channels, "mean": [0.0] * channels, "std": [1.0] * channels}}


def cli(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """`python -m edgewise.cli ARGS` from the repository root, offline."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **kw.pop("env", {})}
    return subprocess.run([sys.executable, "-m", "edgewise.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env, **kw)
