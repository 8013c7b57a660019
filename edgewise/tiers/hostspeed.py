"""How fast this host runs now against its nominal speed: the factor a tier server scales its holds by.

A tier's speed is relative to the host's *nominal* speed: the reference workloads' times on this host
when it is quiet (testbeds/nominal.py). The host itself drifts: the same compute takes a fifth more CPU
time some minutes than others (a neighbour on the physical machine, its clock), and a device does not
slow down with it. So one small probe process per testbed runs the probe workload every `interval_s`
and posts on a board (a file every tier server maps) how much slower than its nominal time it ran.
Each tier server divides the CPU time of a compute step by the host's factor (the median of the probes
of the last `WINDOW_S` seconds, so one disturbed probe moves nothing) before stretching it to the
device's speed.

The probe must meet the host's other work as a step does, or it misjudges what the host does to a step:
it runs a step-sized workload (the 3 ms one: a neighbour slows a small one differently), once to bring it
back into the caches and once warm, as the nominal was measured; a testbed that weights its tiers' CPU
runs the probe at the same weight (a neighbour that interrupts the probe's runs, and not a step's, makes
the host look slower than it is to a step, and the tiers run fast).

A request's first run after a gap also pays the caches the host's other work took since; that depends on
each model's footprint and on what ran between its requests, so it is not taken out of the steps. The
verification measures it for each workload beside its series and allows for it (testbeds/verify.py).

The probe costs about one percent of one core; it runs on whichever core is free, beside the requests,
and bench_hop measures what it costs them.
"""

from __future__ import annotations

import argparse
import math
import mmap
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from edgewise.tiers.reference import PROBE_WORKLOAD, ReferenceRunner

PROBE_INTERVAL_S = 0.25
WINDOW_S = 5.0  # the factor is the median of the probes this recent (at least MIN_PROBES of them)
MIN_PROBES = 9
READ_INTERVAL_S = 0.05  # a tier looks at the board at most this often
RING = 64  # probes kept on the board

# The board: a count, then a ring of RING (monotonic time, ratio) entries, all float64.
_ENTRY = 2
_SLOTS = 1 + _ENTRY * RING


class Board:
    """The probes of the host's speed, shared through one file: one writer (the probe), many readers."""

    def __init__(self, path: str | Path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size < _SLOTS * 8:
                os.ftruncate(fd, _SLOTS * 8)
            self._map = mmap.mmap(fd, _SLOTS * 8)
        finally:
            os.close(fd)
        self._values = np.frombuffer(self._map, np.float64, _SLOTS)

    @staticmethod
    def create(path: str | Path) -> Path:
        """An empty board (a testbed makes one before it starts its probe and tiers)."""
        Path(path).write_bytes(bytes(_SLOTS * 8))
        return Path(path)

    def post(self, stamp: float, ratio: float) -> None:
        count = int(self._values[0])
        at = 1 + _ENTRY * (count % RING)
        self._map[at * 8:(at + _ENTRY) * 8] = np.array([stamp, ratio], np.float64).tobytes()
        self._map[0:8] = np.array([count + 1], np.float64).tobytes()  # after the entry: never an unwritten one

    def read(self, now: float | None = None) -> float | None:
        """The host's factor: the median of the last WINDOW_S seconds' probes (of the latest MIN_PROBES after
        a quiet spell); None while the board is empty."""
        count = int(self._values[0])
        if count <= 0:
            return None
        entries = self._values[1:].reshape(RING, _ENTRY)[: min(count, RING)]
        now = time.monotonic() if now is None else now
        recent = entries[entries[:, 0] >= now - WINDOW_S]
        if len(recent) < MIN_PROBES:
            recent = entries[np.argsort(entries[:, 0])[-MIN_PROBES:]]
        return float(np.median(recent[:, 1]))

    def close(self) -> None:
        del self._values
        self._map.close()


class HostSpeed:
    """What a tier server knows of the host's speed: the board's factor, read at most every
    READ_INTERVAL_S (inside a hold, where it costs the request nothing)."""

    def __init__(self, board: Board):
        self.board = board
        self.factor = board.read() or 1.0
        self._read = -math.inf  # the first hold looks again: the probe may have posted since

    def nominal_work(self, work_s: float) -> float:
        """What a step that took `work_s` of CPU time now would have taken on the nominal host."""
        return work_s / self.factor

    def use(self, room_s: float) -> None:
        """Use a hold of `room_s` seconds (negative: the step ran that late, and is not held anyway): look at
        the board when due."""
        now = time.perf_counter()
        if now - self._read >= READ_INTERVAL_S and (room_s > 50e-6 or room_s < 0):
            self._read = now
            self.factor = self.board.read() or self.factor


class HostProbe:
    """Runs the probe workload every `interval_s` and posts on the board its warm time's ratio to the
    nominal time."""

    def __init__(self, board: Board, nominal_probe_s: float, interval_s: float = PROBE_INTERVAL_S):
        if not nominal_probe_s > 0:
            raise ValueError(f"nominal probe time {nominal_probe_s!r} must be positive")
        self.board, self.nominal_probe_s, self.interval_s = board, float(nominal_probe_s), interval_s
        self._runner = ReferenceRunner(PROBE_WORKLOAD)
        self._runner.once()  # a session's first run allocates; it is not the host's speed

    def once(self) -> float:
        self._runner.once()  # after the pause: whatever ran since, this run brings the probe back in
        ratio = self._runner.once() / self.nominal_probe_s  # warm, as the nominal was measured
        self.board.post(time.monotonic(), ratio)
        return ratio

    def warm(self, count: int = MIN_PROBES) -> None:
        for _ in range(count):
            self.once()

    def run(self, stop=lambda: False) -> None:
        next_at = time.monotonic()
        while not stop():
            self.once()
            next_at += self.interval_s
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at, time.monotonic() - self.interval_s)  # after a stall, do not catch up


def main(argv: list[str] | None = None) -> None:
    """`python -m edgewise.tiers.hostspeed --board PATH --nominal-probe-s S`: the probe of one testbed.
    It prints `ready` once the board holds a window's worth of probes, and runs until killed."""
    parser = argparse.ArgumentParser(prog="edgewise-host-probe")
    parser.add_argument("--board", required=True)
    parser.add_argument("--nominal-probe-s", type=float, required=True)
    parser.add_argument("--interval-s", type=float, default=PROBE_INTERVAL_S)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    probe = HostProbe(Board(args.board), args.nominal_probe_s, args.interval_s)
    probe.warm()
    print("ready", flush=True)
    probe.run()


if __name__ == "__main__":
    main()
