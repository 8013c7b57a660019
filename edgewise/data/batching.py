"""Running a model over a whole split in the batches its graph allows.

Many exported graphs fix the batch (often at 1): such a graph is fed batches of exactly that
size, the last one padded; a dynamic batch takes the size asked for.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edgewise.data.split import Split

Run = Callable[[dict[str, np.ndarray]], np.ndarray]


def fixed_batch(session) -> int | None:
    """The batch an ONNX Runtime session's graph fixes (first dimension of its inputs), None when dynamic."""
    for value in session.get_inputs():
        dim = value.shape[0] if value.shape else None
        if isinstance(dim, int) and dim > 0:
            return dim
    return None


def run_batched(run: Run, data: Split, batch_size: int, fixed: int | None = None) -> np.ndarray:
    """`run` over every sample of `data`, concatenated along the batch axis."""
    size = fixed or batch_size
    try:
        return np.concatenate([_padded(run, feeds, size if fixed else None) for feeds, _ in data.batches(size)])
    except Exception:  # noqa: BLE001 - ONNX Runtime's errors share no base class but Exception
        if size == 1:
            raise
        # A graph may declare a dynamic batch yet reshape to a fixed one inside: one sample at a time.
        return np.concatenate([run(data.batch(slice(i, i + 1))) for i in range(len(data))])


def _padded(run: Run, feeds: dict[str, np.ndarray], size: int | None) -> np.ndarray:
    n = len(next(iter(feeds.values())))
    if size is None or n == size:
        return run(feeds)
    filled = {k: np.concatenate([v, np.repeat(v[-1:], size - n, axis=0)]) for k, v in feeds.items()}
    return run(filled)[:n]
