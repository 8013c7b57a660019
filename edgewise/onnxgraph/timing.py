"""ONNX Runtime sessions set up as a tier runs them, and their median latency."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def make_session(model: str | Path | bytes, threads: int = 1, optimize: bool = True):
    """A CPU session with `threads` intra-op threads and spinning off (a CPU quota is not burned waiting)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    opts.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])


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
