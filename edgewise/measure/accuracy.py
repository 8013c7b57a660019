"""Accuracy of an artifact on the evaluation split, computed in the runtime the tiers use."""

from __future__ import annotations

import numpy as np

from edgewise.data.batching import fixed_batch, run_batched
from edgewise.data.split import Split
from edgewise.runtime import ArtifactRunner
from edgewise.subjects.base import score


def evaluate(parts, evaluation: Split, metrics: tuple[str, ...], threads: int = 2,
             batch_size: int = 64) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Metrics, per-sample correctness and logits of an artifact on `evaluation`, in the batch its graph allows."""
    runner = ArtifactRunner(parts, threads=threads)
    names = runner.input_names
    all_logits = run_batched(lambda feeds: runner({k: v for k, v in feeds.items() if k in names}), evaluation,
                             batch_size, fixed_batch(runner.sessions[0]))
    values, correct = score(metrics, all_logits, evaluation.labels)
    return values, correct, all_logits
