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


# --- a real tier server process ----------------------------------------------------------------

class ServerProcess:
    """`python -m edgewise.tiers.server` on loopback, with its pid for RSS and liveness checks."""

    def __init__(self, *args: str, tier: str = "mobile"):
        cmd = [sys.executable, "-m", "edgewise.tiers.server", "--tier", tier, "--listen", "127.0.0.1:0", "--cpu-only", *args]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
        line = self.proc.stdout.readline().decode()  # type: ignore[union-attr]
        if not line.startswith("ready "):
            self.proc.kill()
            raise RuntimeError(f"tier server did not start: {line!r} {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        self.tier = tier
        self.address = line.split()[2]
        self.pid = self.proc.pid

    def status(self, field: str) -> int:
        """A numeric field of /proc/PID/status (VmRSS in kB, Threads)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def rss_mb(self) -> float:
        return self.status("VmRSS") / 1024

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


IMAGE_SPEC = {"kind": "image", "size": [SIZE, SIZE], "channels": 1, "mean": [0.0], "std": [1.0], "input": "pixel_values"}


def png_bytes(seed: int = 0) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()
