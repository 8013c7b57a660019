"""How long an ONNX Runtime session takes per inference, timed as a tier runs it: sessions come
from edgewise.tiers.sessions (one intra-op thread, spinning off), one sample per run."""

from __future__ import annotations

import time

import numpy as np


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


def interleaved_latency(sessions: list, feeds: list[dict[str, np.ndarray]], runs: int, warmup: int = 2,
                        block: int = 10) -> list[float]:
    """Median seconds per session over `interleaved_times`."""
    return [float(np.median(t)) for t in interleaved_times(sessions, feeds, runs, warmup, block)]


def interleaved_times(sessions: list, feeds: list[dict[str, np.ndarray]], runs: int, warmup: int = 2,
                      block: int = 10) -> list[list[float]]:
    """Seconds of each timed run per session, the sessions taking turns in blocks of back-to-back runs
    so that load hits them alike.

    Runs within a block follow each other, as a served model's requests do: alternating run by run
    would start every run from the other model's cache, and a larger fp32 model evicts an int8 one
    from L2 (resnet's int8 ran 14% slower that way). Each block starts with one untimed run; the
    order rotates from block to block.
    """
    named = [[{i.name: f[i.name] for i in s.get_inputs()} for f in feeds] for s in sessions]
    for s, fs in zip(sessions, named):
        for i in range(warmup):
            s.run(None, fs[i % len(fs)])
    times: list[list[float]] = [[] for _ in sessions]
    order = list(range(len(sessions)))
    for first in range(0, runs, block):
        for k in order:
            s, fs = sessions[k], named[k]
            s.run(None, fs[first % len(fs)])
            for i in range(first, min(first + block, runs)):
                start = time.perf_counter()
                s.run(None, fs[i % len(fs)])
                times[k].append(time.perf_counter() - start)
        order = order[1:] + order[:1]
    return times
