"""The fixed reference workloads: what a tier's speed is measured in.

Small ONNX graphs (chains of square matmuls) of fixed sizes, so that this host, a tier server and a
real device all run exactly the same work. They serve three purposes: the host's nominal speed is
their time on this host when it is quiet (testbeds/nominal.py), a tier server times the smallest one
now and then to follow how fast the host is now (tiers/hostspeed.py), and the speed check and
calibration send them through tiers (testbeds/verify.py, testbeds/calibrate.py).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from edgewise.tiers.sessions import make_session

# name -> (matrix size, depth): about 0.3, 3 and 30 ms on one thread of the host they were sized on
# (their sizes are fixed, not measured: a device and this host run the same graphs).
SPEED_WORKLOADS: dict[str, tuple[int, int]] = {"0.3ms": (160, 4), "3ms": (256, 9), "30ms": (384, 28)}
PROBE_WORKLOAD = "3ms"  # what the host's probe times to follow its speed: the size of a small model's step
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


class ReferenceRunner:
    """A workload on this host, unconstrained: one ONNX Runtime session with `threads` threads.

    `once()` returns the time of one run: with one thread its CPU time, which is what the run takes
    when it has a core to itself (on a busy host the wall time also holds the time others took the
    core); with more threads, the wall time.
    """

    def __init__(self, name: str, threads: int = 1):
        self.name = name
        self.threads = threads
        self.session = make_session(workload_path(name), threads)
        self.feeds = workload_input()
        self._run = self.session.run

    def once(self) -> float:
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        self._run(None, self.feeds)
        return time.thread_time() - cpu0 if self.threads <= 1 else time.perf_counter() - wall0
