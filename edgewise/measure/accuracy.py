"""Accuracy of an artifact on the evaluation split, computed through the runtime that serves it on the tiers."""

from __future__ import annotations

import numpy as np

from edgewise.data.batching import run_batched
from edgewise.data.split import Split
from edgewise.runtimes.base import Runtime
from edgewise.runtimes.runner import ArtifactRunner
from edgewise.subjects.base import score


def evaluate(parts, evaluation: Split, metrics: tuple[str, ...], threads: int = 2, batch_size: int = 64,
             runtime: Runtime | None = None, io: dict | None = None) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Metrics, per-sample correctness and logits of an artifact on `evaluation`, in the batch its model allows,
    through `runtime` (ONNX Runtime when None)."""
    runner = ArtifactRunner(parts, threads, runtime, io)
    names = runner.input_names
    all_logits = run_batched(lambda feeds: runner({k: v for k, v in feeds.items() if k in names}), evaluation,
                             batch_size, runner.fixed_batch)
    runner.close()
    values, correct = score(metrics, all_logits, evaluation.labels)
    return values, correct, all_logits
