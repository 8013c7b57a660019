"""Workloads run inside a tier's cgroup by the verification: `python -m edgewise.testbeds.workloads
spin --seconds S` (prints the CPU seconds received per wall second) and `... hog --mb M` (touches M MiB).
The compute workloads sent through the tiers are in tiers/reference.py.
"""

from __future__ import annotations

import argparse
import sys
import time


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
