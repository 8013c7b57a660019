"""Fixed workloads the verification runs inside a tier's cgroup: a single-threaded ONNX loop, a memory hog.

Run as `python -m edgewise.testbeds.workloads cpu --iterations N` (prints the seconds taken)
or `... cpu --target-s S` (prints iterations and seconds), `... spin --seconds S` (prints CPU
seconds received per wall second) and `... hog --mb M`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def _matmul_model(path: Path, size: int = 192, depth: int = 8) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits, prev = [], [], "x"
    for i in range(depth):
        w = numpy_helper.from_array((rng.standard_normal((size, size)) / size).astype(np.float32), f"w{i}")
        inits.append(w)
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"h{i}"]))
        prev = f"h{i}"
    graph = helper.make_graph(nodes, "cpu-probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [size, size])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [size, size])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def cpu(iterations: int | None, target_s: float) -> str:
    import numpy as np

    from edgewise.runtime import make_session

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.onnx"
        _matmul_model(path)
        session = make_session(path, threads=1)
    x = {"x": np.ones((192, 192), np.float32)}
    session.run(None, x)
    if iterations is None:  # calibrate: how many iterations take target_s unlimited
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < target_s:
            session.run(None, x)
            n += 1
        return f"{n} {time.perf_counter() - t0:.6f}"
    t0 = time.perf_counter()
    for _ in range(iterations):
        session.run(None, x)
    return f"{iterations} {time.perf_counter() - t0:.6f}"


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
    p_cpu = sub.add_parser("cpu")
    p_cpu.add_argument("--iterations", type=int)
    p_cpu.add_argument("--target-s", type=float, default=0.3)
    p_spin = sub.add_parser("spin")
    p_spin.add_argument("--seconds", type=float, default=1.0)
    p_hog = sub.add_parser("hog")
    p_hog.add_argument("--mb", type=int, required=True)
    args = parser.parse_args(argv)
    if args.kind == "cpu":
        print(cpu(args.iterations, args.target_s), flush=True)
    elif args.kind == "spin":
        print(spin(args.seconds), flush=True)
    else:
        print(hog(args.mb), flush=True)


if __name__ == "__main__":
    sys.exit(main())
