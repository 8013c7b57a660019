"""Model-ready data splits: arrays keyed by model input name, plus labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Split:
    """Samples along the first axis of every array. `labels` is None for unlabeled data."""

    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    def batch(self, index) -> dict[str, np.ndarray]:
        return {k: v[index] for k, v in self.inputs.items()}

    def take(self, n: int) -> "Split":
        return self.subset(np.arange(min(n, len(self))))

    def subset(self, index: np.ndarray) -> "Split":
        return Split(self.batch(index), None if self.labels is None else self.labels[index])

    def batches(self, size: int):
        for start in range(0, len(self), size):
            idx = slice(start, start + size)
            yield self.batch(idx), (None if self.labels is None else self.labels[idx])


@dataclass
class Splits:
    """Train, calibration and evaluation: disjoint, fixed by the study seed."""

    train: Split
    calibration: Split
    evaluation: Split


def disjoint_indices(n: int, sizes: tuple[int, int, int], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three disjoint index sets of the given sizes drawn from range(n)."""
    if sum(sizes) > n:
        raise ValueError(f"asked for {sum(sizes)} samples from {n}")
    perm = np.random.default_rng(seed).permutation(n)
    a, b, c = sizes
    return perm[:a], perm[a : a + b], perm[a + b : a + b + c]
