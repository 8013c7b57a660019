"""The median latency of an ONNX Runtime session (sessions come from edgewise.runtime, set up as tiers run them)."""

from __future__ import annotations

import time

import numpy as np

from edgewise.runtime import make_session

__all__ = ["make_session", "median_latency"]


def median_latency(session, feeds: list[dict[str, np.ndarray]], runs: int, warmup: int = 2) -> float:
    """Median seconds of one inference over `runs` runs, cycling through `feeds`."""
    names = [i.name for i in session.get_inputs()]
    feeds = [{n: f[n] for n in names} for f in feeds]
    for i in range(warmup):
        session.run(None, feeds[i % len(feeds)])
    times = []
    for i in range(runs):
        start = time.perf_counter()
        session.run(None, feeds[i % len(feeds)])
        times.append(time.perf_counter() - start)
    return float(np.median(times))
