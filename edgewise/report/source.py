"""The report's one door to the data: loading results and the statistics the charts show.

Everything the report knows about results passes through here, so the analysis package can
change shape without the charts noticing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgewise.analysis.reference import load_reference
from edgewise.analysis.results import CellResult, ResultSet, read_results_json
from edgewise.errors import DataError

# Cliff's delta thresholds of Romano et al., as the reference study used them.
_MAGNITUDES = ((0.147, "negligible"), (0.33, "small"), (0.474, "medium"), (float("inf"), "large"))


def load_results(source: str | Path | ResultSet) -> ResultSet:
    """A study's results.json, a reference CSV, or an already loaded ResultSet."""
    if isinstance(source, ResultSet):
        return source
    path = Path(source)
    if path.is_dir():
        path = path / "results.json"
    if not path.exists():
        raise DataError(f"no results at {path}", "pass a results.json, a study's run folder or a reference CSV")
    return load_reference(path) if path.suffix.lower() == ".csv" else read_results_json(path)


def median_ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Median with a distribution-free confidence interval from order statistics (binomial)."""
    x = np.sort(samples)
    n = len(x)
    if n == 0:
        return (float("nan"),) * 3
    half = 1.959964 * np.sqrt(n) / 2 if level == 0.95 else _z(level) * np.sqrt(n) / 2
    lo, hi = int(max(0, np.floor(n / 2 - half))), int(min(n - 1, np.ceil(n / 2 + half)))
    return float(np.median(x)), float(x[lo]), float(x[hi])


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def latency_percentile(cell: CellResult, percentile: float) -> float:
    return float(np.percentile(cell.latency_s, percentile)) if len(cell.latency_s) else float("nan")


def magnitude(delta: float) -> str:
    return next(label for bound, label in _MAGNITUDES if abs(delta) < bound)


@dataclass(frozen=True)
class Comparison:
    """Row against column: Cliff's delta (negative = row faster), its magnitude, Holm-adjusted p."""

    delta: float
    magnitude: str
    p_adjusted: float | None


def pairwise(groups: dict[str, np.ndarray]) -> dict[tuple[str, str], Comparison]:
    """Every ordered pair of groups: Cliff's delta and the Mann-Whitney p, Holm-adjusted over the pairs."""
    from scipy.stats import mannwhitneyu

    labels = [k for k, v in groups.items() if len(v) > 1]
    raw: dict[tuple[str, str], tuple[float, float]] = {}
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            res = mannwhitneyu(groups[a], groups[b], alternative="two-sided")
            delta = 2 * float(res.statistic) / (len(groups[a]) * len(groups[b])) - 1
            raw[(a, b)] = (delta, float(res.pvalue))
    adjusted = _holm({k: p for k, (_, p) in raw.items()})
    out: dict[tuple[str, str], Comparison] = {}
    for (a, b), (delta, _) in raw.items():
        out[(a, b)] = Comparison(delta, magnitude(delta), adjusted[(a, b)])
        out[(b, a)] = Comparison(-delta, magnitude(delta), adjusted[(a, b)])
    return out


def _holm(pvalues: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    order = sorted(pvalues, key=pvalues.get)
    m, running, out = len(order), 0.0, {}
    for i, key in enumerate(order):
        running = max(running, min(1.0, (m - i) * pvalues[key]))
        out[key] = running
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


def accuracy_drop_points(results: ResultSet, cell: CellResult) -> float | None:
    """Points of the primary metric lost against identity on the same placement (else any placement)."""
    acc = cell.primary_accuracy
    if acc is None:
        return None
    base = results.find(cell.subject, "identity", cell.placement) or next(
        (c for c in results.cells if c.subject == cell.subject and c.chain == "identity" and c.primary_accuracy), None)
    if base is None or base.primary_accuracy is None:
        return None
    return (base.primary_accuracy - acc) * 100


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
