"""Accuracy of an artifact on the evaluation split, computed in the runtime the tiers use."""

from __future__ import annotations

import numpy as np

from edgewise.data.split import Split
from edgewise.runtime import ArtifactRunner
from edgewise.subjects.base import score


def evaluate(parts, evaluation: Split, metrics: tuple[str, ...], threads: int = 2,
             batch_size: int = 64) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Metrics, per-sample correctness and logits of an artifact on `evaluation`."""
    runner = ArtifactRunner(parts, threads=threads)
    names = runner.input_names
    logits = []
    try:
        for feeds, _ in evaluation.batches(batch_size):
            logits.append(runner({k: v for k, v in feeds.items() if k in names}))
    except Exception:  # noqa: BLE001 - some exported graphs fix the batch at 1: fall back to one by one
        logits = [runner({k: v for k, v in evaluation.batch(slice(i, i + 1)).items() if k in names})
                  for i in range(len(evaluation))]
    all_logits = np.concatenate(logits)
    values, correct = score(metrics, all_logits, evaluation.labels)
    return values, correct, all_logits
