"""The runtime as a dimension of the answer: per subject and tier, which runtime serves fastest, at what accuracy.

For each subject and placement that several runtimes served, every runtime's fastest cell (lowest median
latency among its chains) with its accuracy, and the fastest runtime of all. Whether runtimes differ on
one chain is tested as operators and tiers are (analyses.runtime_comparisons: Kruskal–Wallis, Conover,
Cliff's δ); this is the reader's summary of the same cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewise.analysis.results import ResultSet
from edgewise.vocabulary import OK


@dataclass(frozen=True)
class RuntimeBest:
    runtime: str
    cell: str
    chain: str
    median_ms: float
    accuracy: float | None  # the primary metric as a fraction
    metric: str | None

    def to_dict(self) -> dict:
        return {"runtime": self.runtime, "cell": self.cell, "chain": self.chain, "median_ms": self.median_ms,
                "accuracy": self.accuracy, "metric": self.metric}


@dataclass(frozen=True)
class FastestRuntime:
    subject: str
    placement: str
    best: tuple[RuntimeBest, ...]  # one per runtime, fastest first

    @property
    def fastest(self) -> RuntimeBest:
        return self.best[0]

    def text(self) -> str:
        f = self.fastest
        acc = "" if f.accuracy is None else f", {f.metric} {f.accuracy * 100:.2f}%"
        others = "; ".join(f"{b.runtime} {b.median_ms:.2f} ms ({b.chain})" for b in self.best[1:])
        return (f"{self.subject} on {self.placement}: {f.runtime} is fastest, {f.median_ms:.2f} ms median with "
                f"{f.chain}{acc}" + (f" (then {others})" if others else ""))

    def to_dict(self) -> dict:
        return {"subject": self.subject, "placement": self.placement, "fastest": self.fastest.to_dict(),
                "runtimes": [b.to_dict() for b in self.best]}


def fastest_runtimes(rs: ResultSet) -> list[FastestRuntime]:
    """Per subject and placement served by two runtimes or more; empty for a study on one runtime."""
    out = []
    usable = [c for c in rs.cells if c.status == OK and c.latency_s.size > 0]
    for subject in dict.fromkeys(c.subject for c in usable):
        for placement in dict.fromkeys(c.placement for c in usable if c.subject == subject):
            cells = [c for c in usable if c.subject == subject and c.placement == placement]
            best: dict[str, RuntimeBest] = {}
            for c in cells:
                median = float(np.median(c.latency_s)) * 1e3
                if c.runtime_label not in best or median < best[c.runtime_label].median_ms:
                    best[c.runtime_label] = RuntimeBest(c.runtime_label, c.name, c.chain, median, c.primary_accuracy,
                                                        c.metric)
            if len(best) >= 2:
                out.append(FastestRuntime(subject, placement, tuple(sorted(best.values(), key=lambda b: b.median_ms))))
    return out
