"""The report's one door to the data: loading results and the statistics the charts show.

Everything the report knows about results passes through here, so the analysis package can
change shape without the charts noticing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgewise.analysis import CellResult, ResultSet
from edgewise.analysis import load_results as _load_results


def load_results(source: str | Path | ResultSet) -> ResultSet:
    """A study's folder or results.json, a reference CSV, a generic CSV, or an already loaded ResultSet."""
    return source if isinstance(source, ResultSet) else _load_results(source)


def study_findings(results: ResultSet) -> list[str]:
    """The analysis package's findings (fastest chain / placement, speed-up ranges, no-speed-up warnings)."""
    from edgewise.analysis.analyses import default_analyses
    from edgewise.analysis.findings import findings

    return [f.text for f in findings(results, default_analyses(results))]


def median_ci(samples: np.ndarray) -> tuple[float, float, float]:
    """Median with its distribution-free 95% confidence interval from order statistics (binomial)."""
    x = np.sort(samples)
    n = len(x)
    if n == 0:
        return (float("nan"),) * 3
    half = 1.959964 * np.sqrt(n) / 2
    lo, hi = int(max(0, np.floor(n / 2 - half))), int(min(n - 1, np.ceil(n / 2 + half)))
    return float(np.median(x)), float(x[lo]), float(x[hi])


def latency_percentile(cell: CellResult, percentile: float) -> float:
    return float(np.percentile(cell.latency_s, percentile)) if len(cell.latency_s) else float("nan")


@dataclass(frozen=True)
class Comparison:
    """Row against column: Cliff's delta (negative = row faster), its magnitude, adjusted p."""

    delta: float
    magnitude: str
    p_adjusted: float | None


def pairwise(groups: dict[str, np.ndarray]) -> dict[tuple[str, str], Comparison]:
    """Every ordered pair of groups, as the reference study tested them: Conover after Kruskal-Wallis
    (Holm-adjusted over the pairs here) and Cliff's delta."""
    from edgewise.analysis.stats import adjust_p, cliffs_delta, conover

    labels = [k for k, v in groups.items() if len(v) > 1]
    if len(labels) < 2:
        return {}
    p = conover([groups[k] for k in labels]).p
    pairs = [(i, j) for i in range(len(labels)) for j in range(i + 1, len(labels))]
    adjusted = adjust_p([p[i, j] for i, j in pairs], "holm")
    out: dict[tuple[str, str], Comparison] = {}
    for (i, j), p_adj in zip(pairs, adjusted):
        a, b = labels[i], labels[j]
        cd = cliffs_delta(groups[a], groups[b])
        out[(a, b)] = Comparison(cd.d, cd.magnitude, float(p_adj))
        out[(b, a)] = Comparison(-cd.d, cd.magnitude, float(p_adj))
    return out


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both lower x (latency) and higher y (accuracy)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


@dataclass(frozen=True)
class Choice:
    """The fastest cell of a subject meeting the SLA, or None with the reason."""

    subject: str
    cell: CellResult | None
    latency_ms: float | None
    accuracy_drop_points: float | None
    reason: str


def recommend(results: ResultSet, max_latency_ms: float, percentile: float, max_drop_points: float) -> list[Choice]:
    choices = []
    for subject in results.subjects:
        cells = [c for c in results.cells if c.subject == subject and c.status == "ok" and len(c.latency_s)]
        candidates = []
        for c in cells:
            p_ms = latency_percentile(c, percentile) * 1000
            drop = accuracy_drop_points(results, c)
            if p_ms <= max_latency_ms and (drop is None or drop <= max_drop_points):
                candidates.append((p_ms, c, drop))
        if candidates:
            p_ms, best, drop = min(candidates, key=lambda t: t[0])
            choices.append(Choice(subject, best, p_ms, drop, f"{len(candidates)} of {len(cells)} cells meet the SLA"))
        else:
            fastest = min(cells, key=lambda c: latency_percentile(c, percentile), default=None)
            why = "no cell was measured" if fastest is None else (
                f"none meets it; the fastest, {fastest.name}, takes "
                f"{latency_percentile(fastest, percentile) * 1000:,.1f} ms at p{percentile:g}")
            choices.append(Choice(subject, None, None, None, why))
    return choices


def identity_accuracy(results: ResultSet, subject: str, placement: str) -> float | None:
    """The subject's identity accuracy on the placement, else on any placement (a partition is lossless)."""
    same = results.find(subject, "identity", placement)
    if same is not None and same.primary_accuracy is not None:
        return same.primary_accuracy
    return next((c.primary_accuracy for c in results.cells
                 if c.subject == subject and c.chain == "identity" and c.primary_accuracy is not None), None)


def accuracy_drop_points(results: ResultSet, cell: CellResult) -> float | None:
    """Points of the primary metric lost against identity (see identity_accuracy)."""
    base = identity_accuracy(results, cell.subject, cell.placement)
    if base is None or cell.primary_accuracy is None:
        return None
    return (base - cell.primary_accuracy) * 100


def speedups(results: ResultSet) -> dict[tuple[str, str], dict[str, float]]:
    """(chain, placement) -> subject -> ratio of medians identity / chain (> 1: the chain is faster).

    A partition chain is compared with identity on the partition's first tier (where the client sends)."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for c in results.cells:
        if c.chain == "identity" or c.status != "ok" or not len(c.latency_s):
            continue
        base_place = c.placement if c.is_single_tier else c.placement.split("-")[0]
        base = results.find(c.subject, "identity", base_place)
        if base is None or base.status != "ok" or not len(base.latency_s):
            continue
        out.setdefault((c.chain, c.placement), {})[c.subject] = float(np.median(base.latency_s) / np.median(c.latency_s))
    return out
