"""Fixed workloads of verification and calibration.

The compute workloads are small ONNX graphs sent through the tier servers (speed check, calibration)
and run on this host as the unconstrained reference. Inside a tier's cgroup the verification runs
`python -m edgewise.testbeds.workloads spin --seconds S` (prints CPU seconds received per wall
second) and `... hog --mb M` (touches M MiB).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from edgewise.runtime import make_session


# The fixed compute workloads of the speed check and of calibration: name -> (matrix size, depth).
# A chain of square matmuls sized to about 0.3, 3 and 30 ms on one thread of the development host;
# their sizes are fixed, not measured, so that a device and this host run exactly the same graphs.
SPEED_WORKLOADS: dict[str, tuple[int, int]] = {"0.3ms": (160, 4), "3ms": (256, 9), "30ms": (384, 28)}
WORKLOAD_INPUT_WIDTH = 16  # the request carries a tiny tensor; the graph expands it, so links cost ~nothing


def workload_model(size: int, depth: int) -> bytes:
    """x[1, 16] -> expand to [size, 16] -> [size, size] -> `depth` matmuls by one weight -> mean row [1, size]."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    width = WORKLOAD_INPUT_WIDTH
    inits = [numpy_helper.from_array(np.array([size, width], np.int64), "rows"),
             numpy_helper.from_array((rng.standard_normal((width, size)) / width).astype(np.float32), "w_in"),
             # Scaled so that repeated products neither vanish nor overflow (no denormal slow paths).
             numpy_helper.from_array(_orthogonal(rng, size), "w")]
    nodes = [helper.make_node("Expand", ["x", "rows"], ["e"]), helper.make_node("MatMul", ["e", "w_in"], ["h_in"])]
    prev = "h_in"
    for i in range(depth):
        nodes.append(helper.make_node("MatMul", [prev, "w"], [f"h{i}"]))
        prev = f"h{i}"
    nodes.append(helper.make_node("ReduceMean", [prev], ["y"], axes=[0], keepdims=1))
    graph = helper.make_graph(nodes, f"workload-{size}x{depth}",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, size])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def _orthogonal(rng, size: int):
    import numpy as np

    q, _ = np.linalg.qr(rng.standard_normal((size, size)))
    return q.astype(np.float32)


def workload_path(name: str) -> Path:
    """The workload's ONNX file, built once into the user's cache (content-addressed, safe to share)."""
    size, depth = SPEED_WORKLOADS[name]
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgewise" / "workloads"
    path = root / f"matmul-{size}x{depth}.onnx"
    if not path.is_file():
        root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(workload_model(size, depth))
        tmp.replace(path)  # atomic: concurrent builders never see half a file
    return path


def workload_input():
    import numpy as np

    return {"x": np.ones((1, WORKLOAD_INPUT_WIDTH), np.float32)}


class HostRunner:
    """A workload on this host, unconstrained: one ONNX Runtime session with `threads` threads.

    `once()` returns the time of one run: with one thread its CPU time, which is what the run takes
    when it has a core to itself (on a busy host the wall time also holds the time others took the
    core); with more threads, the wall time.
    """

    def __init__(self, name: str, threads: int = 1):
        self.threads = threads
        self.session = make_session(workload_path(name), threads)
        self.feeds = workload_input()

    def once(self) -> float:
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        self.session.run(None, self.feeds)
        return time.thread_time() - cpu0 if self.threads <= 1 else time.perf_counter() - wall0


def spin(seconds: float) -> str:
    """Spin one thread for `seconds` of wall time; print the CPU seconds it received per wall second.

    Inside a cgroup this is the quota the kernel enforces (when the host has the CPU to give).
    """
    wall0, cpu0 = time.perf_counter(), time.process_time()
    x = 0
    while time.perf_counter() - wall0 < seconds:
        for _ in range(10_000):
            x += 1
    wall, used = time.perf_counter() - wall0, time.process_time() - cpu0
    return f"{used / wall:.4f} {wall:.4f}"


def hog(mb: int) -> str:
    """Touch `mb` MiB, 16 MiB at a time; under a smaller cap the kernel kills this process."""
    blocks = []
    for _ in range(0, mb, 16):
        blocks.append(bytearray(b"\x01" * (16 * 2**20)))
    return f"survived {len(blocks) * 16}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="edgewise-workload")
    sub = parser.add_subparsers(dest="kind", required=True)
    p_spin = sub.add_parser("spin")
    p_spin.add_argument("--seconds", type=float, default=1.0)
    p_hog = sub.add_parser("hog")
    p_hog.add_argument("--mb", type=int, required=True)
    args = parser.parse_args(argv)
    if args.kind == "spin":
        print(spin(args.seconds), flush=True)
    else:
        print(hog(args.mb), flush=True)


if __name__ == "__main__":
    sys.exit(main())
