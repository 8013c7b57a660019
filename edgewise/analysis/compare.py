"""Latency comparisons between cells: Kruskal-Wallis over a set, then Conover + Cliff's delta for every pair."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from edgewise.analysis.bootstrap import Interval, interval, median_rows, replicates, seed_for
from edgewise.analysis.results import ResultSet
from edgewise.analysis.stats import KruskalResult, Magnitude, PAdjust, adjust_p, cliffs_delta, conover, kruskal
from edgewise.errors import DataError
from edgewise.vocabulary import OK

ALPHA = 0.05


class MedianReplicates:
    """Bootstrap replicates of each cell's median latency, drawn once per cell and reused by every pair."""

    def __init__(self, rs: ResultSet, seed: int = 0):
        self._rs, self._seed, self._reps = rs, seed, {}

    def __call__(self, name: str) -> np.ndarray:
        if name not in self._reps:
            self._reps[name] = replicates(self._rs.cell(name).latency_s, median_rows, seed_for(name, seed=self._seed))
        return self._reps[name]

    def interval(self, name: str) -> Interval:
        """95% bootstrap CI of the cell's median latency (seconds), from the same replicates as the ratio CIs."""
        return interval(self(name))


@dataclass(frozen=True)
class PairComparison:
    """Latency of cell a against cell b. delta > 0 and ratio > 1 mean a is slower."""

    a: str
    b: str
    median_a_s: float
    median_b_s: float
    conover_p: float
    adjusted_p: float
    delta: float
    magnitude: Magnitude
    ratio: float  # median(a) / median(b)
    ratio_ci: Interval
    significant: bool

    @property
    def faster(self) -> str | None:
        """The cell with the lower median when the difference is significant, else None."""
        if not self.significant:
            return None
        return self.a if self.median_a_s < self.median_b_s else self.b

    @property
    def verdict(self) -> str:
        if self.faster is None:
            return "no significant difference"
        slower = self.b if self.faster == self.a else self.a
        speedup = max(self.ratio, 1.0 / self.ratio) if self.ratio > 0 else float("inf")
        return f"{self.faster} faster than {slower} ({speedup:.2f}x, {self.magnitude} effect)"

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "median_a_s": self.median_a_s, "median_b_s": self.median_b_s,
                "conover_p": self.conover_p, "adjusted_p": self.adjusted_p, "cliffs_delta": self.delta,
                "magnitude": self.magnitude, "ratio_of_medians": self.ratio, "ratio_ci": self.ratio_ci.to_dict(),
                "significant": self.significant, "faster": self.faster, "verdict": self.verdict}


@dataclass(frozen=True)
class Comparison:
    """One family of cells compared together; pairs are significant only when Kruskal-Wallis is."""

    id: str
    title: str
    cells: tuple[str, ...]
    p_adjust: PAdjust
    kruskal: KruskalResult
    medians_s: tuple[float, ...]
    pairs: tuple[PairComparison, ...] = field(default=())
    alpha: float = ALPHA

    @property
    def significant(self) -> bool:
        return self.kruskal.p < self.alpha

    def pair(self, a: str, b: str) -> PairComparison:
        """The pair of a and b, oriented as asked (delta and ratio of a against b)."""
        for p in self.pairs:
            if (p.a, p.b) == (a, b):
                return p
            if (p.a, p.b) == (b, a):
                return PairComparison(a, b, p.median_b_s, p.median_a_s, p.conover_p, p.adjusted_p, -p.delta,
                                      p.magnitude, 1.0 / p.ratio, Interval(1.0 / p.ratio_ci.high, 1.0 / p.ratio_ci.low),
                                      p.significant)
        raise KeyError(f"{a} and {b} are not both in comparison {self.id}")

    def fastest(self) -> str:
        """The cell with the lowest median latency (whether or not significantly so)."""
        return self.cells[int(np.argmin(self.medians_s))]

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "cells": list(self.cells), "p_adjust": self.p_adjust,
                "alpha": self.alpha, "kruskal": {"h": self.kruskal.h, "p": self.kruskal.p, "df": self.kruskal.df},
                "medians_s": dict(zip(self.cells, self.medians_s)),
                "significant": self.significant, "pairs": [p.to_dict() for p in self.pairs]}


def compare_cells(rs: ResultSet, cells: list[str], p_adjust: PAdjust = "holm", *, id: str | None = None,
                  title: str | None = None, medians: MedianReplicates | None = None) -> Comparison:
    """Kruskal-Wallis over the cells' latencies, then every pair: Conover p (adjusted), Cliff's delta, ratio CI."""
    names = list(dict.fromkeys(cells))
    if len(names) < 2:
        raise DataError("a comparison needs at least two distinct cells", "e.g. --cells 'a:identity@edge,a:sptq@edge'")
    results = [rs.cell(n) for n in names]
    unusable = [r.name for r in results if r.status != OK or r.latency_s.size == 0]
    if unusable:
        raise DataError(f"cell(s) without latency samples: {', '.join(unusable)}", "compare cells whose status is ok")
    medians = medians or MedianReplicates(rs)
    groups = [r.latency_s for r in results]
    medians_s = tuple(float(np.median(g)) for g in groups)
    kw = kruskal(groups)
    raw = conover(groups).p
    index_pairs = list(combinations(range(len(names)), 2))
    adjusted = adjust_p([raw[i, j] for i, j in index_pairs], p_adjust)
    pairs = []
    for (i, j), p_adj in zip(index_pairs, adjusted):
        cd = cliffs_delta(groups[i], groups[j])
        med_i, med_j = medians_s[i], medians_s[j]
        ratio_reps = medians(names[i]) / medians(names[j])
        pairs.append(PairComparison(
            a=names[i], b=names[j], median_a_s=med_i, median_b_s=med_j, conover_p=float(raw[i, j]),
            adjusted_p=float(p_adj), delta=cd.d, magnitude=cd.magnitude, ratio=med_i / med_j,
            ratio_ci=interval(ratio_reps), significant=bool(kw.p < ALPHA and p_adj < ALPHA)))
    return Comparison(id=id or "cells:" + ",".join(names), title=title or f"{len(names)} cells", cells=tuple(names),
                      p_adjust=p_adjust, kruskal=kw, medians_s=medians_s, pairs=tuple(pairs))
