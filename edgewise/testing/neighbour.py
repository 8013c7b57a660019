"""A neighbour: processes that take the host's cores, caches and memory bandwidth at ordinary priority, as
another tenant of a shared host does. The checks that a testbed holds its tiers' speed beside other work
start one; each of its processes dies with the process that started it, so none outlives a killed run."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

from edgewise.testbeds.processes import die_with_parent

_MULTIPLY = """
import sys
import numpy as np
n = int(sys.argv[1])
x = np.random.default_rng(0).random((n, n), dtype=np.float32)
while True:
    x = x @ x
    x /= np.abs(x).max()
"""


def start_neighbour(processes: int | None = None, size: int = 1500) -> list[subprocess.Popen]:
    """`processes` (default: one per core), each multiplying `size` x `size` float matrices on one thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    # die_with_parent only calls prctl: no lock that another thread may hold is taken in the child
    return [subprocess.Popen([sys.executable, "-c", _MULTIPLY, str(size)], env=env,
                             preexec_fn=die_with_parent)  # noqa: PLW1509
            for _ in range(processes or os.cpu_count() or 2)]


def stop_neighbour(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.wait()


@contextlib.contextmanager
def neighbour(processes: int | None = None, size: int = 1500) -> Iterator[list[subprocess.Popen]]:
    """A neighbour for the block (start_neighbour); its processes, to check they ran throughout."""
    procs = start_neighbour(processes, size)
    try:
        yield procs
    finally:
        stop_neighbour(procs)
