"""Figures white-box operators record in an artifact's metadata: size, MACs, ORT latency, int8 ops.

Latency is measured the way the edge tier runs a model: one intra-op thread, spinning off, one
sample per request; models compared take turns (tiers/session_latency.py) so drift on a shared machine
hits both.
"""

from __future__ import annotations

import contextlib
import copy
import io
import tempfile
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from edgewise.tiers.session_latency import interleaved_latency
from edgewise.tiers.sessions import make_session

# ONNX Runtime kernels that compute in integers (what a QDQ graph should fuse into).
INTEGER_OPS = frozenset({"QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger", "MatMulIntegerToFloat",
                         "QGemm", "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool", "QLinearAveragePool",
                         "DynamicQuantizeMatMul", "QAttention", "QEmbedLayerNormalization"})


def parameter_count(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def macs_and_parameters(module, example: dict[str, np.ndarray]) -> tuple[int, int]:
    """Multiply-accumulates of one forward pass on `example` (Torch-Pruning's counter) and parameters."""
    import torch
    import torch_pruning as tp

    from edgewise.whitebox.conv1d import contains_conv1d, linearize_conv1d

    feeds = {k: torch.from_numpy(v) for k, v in example.items()}
    device = next(module.parameters()).device
    if contains_conv1d(module):  # the counter knows nn.Linear, not GPT-2's Conv1D: count a linearized copy
        module = copy.deepcopy(module)
        linearize_conv1d(module)
    # The counter prints a warning per keyword-only module to stdout; keep the build log clean.
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        macs, params = tp.utils.count_ops_and_params(module.cpu().eval(), feeds)
    module.to(device)
    return int(macs), int(params)


def latency_ms(paths: Sequence[Path], feeds: dict[str, np.ndarray], runs: int = 60, warmup: int = 5) -> list[float]:
    """Median ORT latency (ms, 1 thread) of each model on `feeds`, models taking turns in blocks of runs."""
    sessions = [make_session(p, threads=1) for p in paths]
    return [round(s * 1e3, 4) for s in interleaved_latency(sessions, [feeds], runs, warmup)]


def optimized_op_counts(path: Path) -> dict[str, int]:
    """Operator counts of the graph ONNX Runtime actually runs (after its QDQ fusions)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        opts.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        opts.log_severity_level = 3
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        graph = onnx.load(opts.optimized_model_filepath, load_external_data=False).graph
    return dict(Counter(n.op_type for n in graph.node))


def integer_kernels(op_counts: dict[str, int]) -> dict[str, int]:
    return {op: n for op, n in sorted(op_counts.items()) if op in INTEGER_OPS}
