"""Seeded, vectorised percentile bootstrap of a statistic and confidence intervals from it."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

N_BOOT = 1000  # enough for 95% percentile intervals; analyses of 80 cells stay within seconds
LEVEL = 0.95
# Resample in blocks so a large sample times N_BOOT never needs one huge index array.
_BLOCK_ELEMENTS = 4_000_000

Statistic = Callable[[np.ndarray], np.ndarray]  # (replicates, n) -> (replicates,)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    level: float = LEVEL

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def to_dict(self) -> dict[str, float]:
        return {"low": self.low, "high": self.high, "level": self.level}


def seed_for(*names: str, seed: int = 0) -> int:
    """A stable seed per named sample, so a cell's bootstrap does not depend on analysis order."""
    return zlib.crc32("|".join(names).encode()) ^ seed


def replicates(x: np.ndarray, statistic: Statistic, seed: int, n_boot: int = N_BOOT) -> np.ndarray:
    """n_boot bootstrap replicates of statistic(x); statistic works row-wise on a 2-D array."""
    x = np.asarray(x, dtype=float)
    rng = np.random.default_rng(seed)
    rows = max(1, _BLOCK_ELEMENTS // max(1, x.size))
    out = [statistic(x[rng.integers(0, x.size, size=(min(rows, n_boot - start), x.size))])
           for start in range(0, n_boot, rows)]
    return np.concatenate(out)


def interval(reps: np.ndarray, level: float = LEVEL) -> Interval:
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(reps, [tail, 100.0 - tail])
    return Interval(float(low), float(high), level)


def median_rows(a: np.ndarray) -> np.ndarray:
    return np.median(a, axis=1)


def percentile_rows(q: float) -> Statistic:
    return lambda a: np.percentile(a, q, axis=1)


def mean_rows(a: np.ndarray) -> np.ndarray:
    return a.mean(axis=1)
