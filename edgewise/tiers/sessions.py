"""ONNX Runtime sessions configured the way tiers run them (edgewise.runtimes.onnx_runtime serves through them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence


def make_session(model: str | Path | bytes, threads: int = 1, providers: Sequence[str] | None = None,
                 optimize: bool = True, profile_prefix: str | Path | None = None):
    """A session with `threads` intra-op threads and spinning off, from a path or serialized bytes;
    with `profile_prefix`, ONNX Runtime's profiler writes its trace there (`session.end_profiling()`).

    Spinning threads burn a CPU quota while they wait, so under a cgroup share they turn a
    20 ms inference into seconds; off costs nothing measurable on an idle core.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    opts.log_severity_level = 3
    if profile_prefix is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(profile_prefix)
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=opts, providers=list(providers or ["CPUExecutionProvider"]))


def unchecked_run(session) -> Callable[[list[str], dict[str, Any], Any], list]:
    """`session.run` (called with output names, feeds and run options) without the Python wrapper's
    per-call checks of the feeds, for a caller that has checked them itself (the tier server checks
    every request against the model's inputs); the checks cost several microseconds a request on a
    cold cache. A session with a non-CPU provider keeps the wrapper, whose fallback to CPU on a
    provider failure matters."""
    inner = getattr(session, "_sess", None)
    if inner is None or not hasattr(inner, "run") or session.get_providers() != ["CPUExecutionProvider"]:
        return session.run
    return inner.run
