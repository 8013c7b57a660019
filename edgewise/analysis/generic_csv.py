"""Importer of a generic long CSV: one row per request.

Columns: subject, chain, placement, latency_s (seconds); optional correct (0/1, the request's
top-1 correctness on the evaluation split) and accuracy (the cell's metric as a fraction,
repeated on its rows). Without an accuracy column the accuracy is the mean of correct.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from edgewise.analysis.results import CellResult, ResultSet
from edgewise.errors import DataError

REQUIRED = ("subject", "chain", "placement", "latency_s")


def _optional_float(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def load_generic_csv(path: Path) -> ResultSet:
    latencies: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    correct: dict[tuple[str, str, str], list[bool]] = defaultdict(list)
    accuracy: dict[tuple[str, str, str], float] = {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path} lacks the column(s) {', '.join(missing)}",
                            "a generic CSV needs subject,chain,placement,latency_s[,correct][,accuracy]")
        for line, row in enumerate(reader, start=2):
            key = (row["subject"].strip(), row["chain"].strip(), row["placement"].strip().lower())
            try:
                latencies[key].append(float(row["latency_s"]))
                if (c := _optional_float(row.get("correct"))) is not None:
                    correct[key].append(bool(c))
                if (a := _optional_float(row.get("accuracy"))) is not None:
                    accuracy[key] = a
            except ValueError as exc:
                raise DataError(f"{path}:{line}: {exc}", "latency_s, correct and accuracy must be numbers") from exc
    cells = []
    for key, values in latencies.items():
        corr = np.asarray(correct[key], dtype=bool) if correct.get(key) else None
        acc = accuracy.get(key, float(corr.mean()) if corr is not None else None)
        cells.append(CellResult(subject=key[0], chain=key[1], placement=key[2],
                                latency_s=np.asarray(values, dtype=float),
                                metric="accuracy" if acc is not None else None,
                                accuracy={"accuracy": acc} if acc is not None else {}, correct=corr))
    return ResultSet(cells, study={"name": path.stem, "source": str(path)})
