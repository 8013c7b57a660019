"""The SLA answer: which cells meet a latency percentile bound at an accuracy drop the user accepts
(and, where the SLA bounds them, a model size and a peak serving memory per tier).

Every cell gets a verdict: meets, borderline (a confidence interval straddles a bound, or a figure
is unknown) or fails, with the reason for each rejection. Per subject the cells are ranked (fastest
that meets first) and the Pareto front of latency against accuracy is marked.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from edgewise.analysis.accuracy import AccuracyDrop, accuracy_drop
from edgewise.analysis.bootstrap import Interval, seed_for
from edgewise.analysis.compare import MedianReplicates, compare_cells
from edgewise.analysis.footprint import footprint, largest, memory_status, model_status
from edgewise.analysis.pareto import Point, pareto_front
from edgewise.analysis.results import DEFAULT_RUNTIME, CellResult, ResultSet
from edgewise.analysis.tails import TailEstimate, largest_supported, tail_percentile
from edgewise.errors import ConfigError, PlanError
from edgewise.sla import DEFAULT_SLA, Sla, within
from edgewise.tiers.spec import Placement, path_position
from edgewise.vocabulary import OK, TIER_ORDER

Status = Literal["meets", "borderline", "fails"]
_STATUS_RANK = {"meets": 0, "borderline": 1, "fails": 2}
# Tails this close are a tie: from one run of a study to the next a cell's p95 moves by about this much, more
# than its CI within one run says (docs/benchmarks.md, replication).
TAIL_TIE = 0.10


@dataclass(frozen=True)
class CellVerdict:
    cell: str
    subject: str
    chain: str
    placement: str
    status: Status
    reasons: tuple[str, ...]  # why the cell is not "meets"
    notes: tuple[str, ...]  # what the figures rest on (fallback percentile, unpaired accuracy, ...)
    latency: TailEstimate | None
    accuracy: float | None
    accuracy_drop: AccuracyDrop | None
    no_significant_speedup: bool | None  # None: identity, or no identity on this placement to compare with
    on_pareto_front: bool = False
    runtime: str = DEFAULT_RUNTIME  # the runtime that served the cell, with its settings
    model_mb: float | None = None  # the largest part's file
    memory_mb: float | None = None  # the largest part's peak serving memory on its tier
    median_s: float | None = None  # the typical request's latency, with its bootstrap CI
    median_ci: Interval | None = None

    def to_dict(self) -> dict:
        return {"cell": self.cell, "subject": self.subject, "chain": self.chain, "placement": self.placement,
                "runtime": self.runtime, "status": self.status, "reasons": list(self.reasons),
                "notes": list(self.notes),
                "latency": self.latency.to_dict() if self.latency else None, "accuracy": self.accuracy,
                "accuracy_drop": self.accuracy_drop.to_dict() if self.accuracy_drop else None,
                "no_significant_speedup": self.no_significant_speedup, "on_pareto_front": self.on_pareto_front,
                "model_mb": self.model_mb, "memory_mb": self.memory_mb, "median_s": self.median_s,
                "median_ci": self.median_ci.to_dict() if self.median_ci else None}


@dataclass(frozen=True)
class Recommendation:
    max_latency_ms: float
    percentile: int
    max_accuracy_drop: float
    placements: tuple[str, ...] | None
    verdicts: tuple[CellVerdict, ...]  # per subject, ranked: meets (fastest first), borderline, fails
    max_model_mb: float | None = None
    max_memory_mb: float | None = None

    @property
    def subjects(self) -> list[str]:
        return list(dict.fromkeys(v.subject for v in self.verdicts))

    def ranked(self, subject: str) -> list[CellVerdict]:
        return [v for v in self.verdicts if v.subject == subject]

    def best(self, subject: str) -> CellVerdict | None:
        """The cell to ship, or None: of the cells that meet every bound, the fastest at the SLA's percentile.

        A tail is estimated from its few largest samples, and a second run moves it more than its CI says (the
        host differs from run to run), so cells whose tails lie within TAIL_TIE of the fastest's, or whose CIs
        there overlap its, may come in either order in a second run: of those, the one faster in the typical
        request (the median, estimated from all the samples), and of those that cannot be told apart there
        either, the most accurate (measured on a fixed split), then the one whose requests travel the fewest
        links: orders a second run keeps."""
        meeting = [v for v in self.ranked(subject) if v.status == "meets"]
        if not meeting:
            return None
        tied_at_tail = [v for v in meeting if v is meeting[0] or _tail_tie(meeting[0], v)]
        typical = min(tied_at_tail, key=_median)
        tied = [v for v in tied_at_tail if v is typical or _overlap(typical.median_ci, v.median_ci)]
        return min(tied, key=lambda v: (_drop_points(v), _reach(v), _median(v)))

    def pareto(self, subject: str) -> list[str]:
        return [v.cell for v in self.ranked(subject) if v.on_pareto_front]

    def judged_on(self) -> str:
        """Which percentile and bound the latency verdicts rest on, in one sentence."""
        judged = [v.latency for v in self.verdicts if v.latency is not None and v.latency.value is not None]
        at_sla = [e for e in judged if e.percentile == self.percentile]
        text = f"latency judged at p{self.percentile} for {len(at_sla)} of {len(judged)} cells"
        bounded = [e.bound for e in at_sla if e.bound is not None]
        if bounded:
            low, high = min(b.n for b in bounded), max(b.n for b in bounded)
            text += (f" on MLPerf's early-stopping upper bound ({bounded[0].confidence:.0%} confidence, needs "
                     f"n >= {at_sla[0].required}; n = {low}" + (f" to {high})" if high > low else ")"))
        lower = sorted({e.percentile for e in judged} - {self.percentile})
        if lower:
            text += "; too few samples in the others: judged at " + ", ".join(f"p{p:g}" for p in lower)
        return text

    def to_dict(self) -> dict:
        return {"sla": {"max_latency_ms": self.max_latency_ms, "percentile": self.percentile,
                        "max_accuracy_drop": self.max_accuracy_drop, "max_model_mb": self.max_model_mb,
                        "max_memory_mb": self.max_memory_mb},
                "judged_on": self.judged_on(),
                "placements": list(self.placements) if self.placements else None,
                "subjects": {s: {"best": (b.cell if (b := self.best(s)) else None),
                                 "best_runtime": b.runtime if b else None, "pareto_front": self.pareto(s),
                                 "ranking": [v.to_dict() for v in self.ranked(s)]} for s in self.subjects}}


def _judge(value: float, ci: Interval | None, bound: float) -> Status:
    """meets when the value and its CI are within the bound, fails when both exceed it, else borderline."""
    if ci is None:
        return "meets" if within(value, bound) else "fails"
    if within(value, bound) and within(ci.high, bound):
        return "meets"
    if not within(value, bound) and not within(ci.low, bound):
        return "fails"
    return "borderline"


def _latency_estimate(cell: CellResult, percentile: int, notes: list[str]) -> TailEstimate | None:
    """The SLA's percentile with its early-stopping bound; a lower one only when the sample is too small."""
    seed = seed_for(cell.name, "tail")
    estimate = tail_percentile(cell.latency_s, percentile, seed)
    if estimate.supported:
        return estimate
    fallback = largest_supported(cell.latency_s.size)
    if fallback is None:
        return None
    notes.append(f"{estimate.describe()}: judged on p{fallback} instead")
    return tail_percentile(cell.latency_s, fallback, seed)


def _latency_status(estimate: TailEstimate | None, max_latency_ms: float, reasons: list[str]) -> Status:
    """meets when the early-stopping bound is within the limit (without a bound: the value and its CI);
    fails when the value and its CI are beyond it; else borderline."""
    if estimate is None or estimate.value is None:
        reasons.append("no latency samples")
        return "fails"
    limit = max_latency_ms / 1e3
    bound = estimate.bound
    if bound is None:
        status = _judge(estimate.value, estimate.ci, limit)
    elif bound.value <= limit:
        status = "meets"
    else:
        status = "fails" if _judge(estimate.value, estimate.ci, limit) == "fails" else "borderline"
    if status == "fails":
        reasons.append(f"{estimate.describe()} exceeds {max_latency_ms:g} ms")
    elif status == "borderline":
        straddles = "the upper bound exceeds" if bound is not None else "the CI straddles"
        reasons.append(f"{estimate.describe()}: {straddles} {max_latency_ms:g} ms")
    return status


def _accuracy_status(cell: CellResult, drop: AccuracyDrop | None, max_drop: float,
                     reasons: list[str], notes: list[str]) -> Status:
    if cell.chain == "identity" and not cell.runtime:  # another runtime (bf16, say) may change the predictions
        return "meets"
    if drop is None:
        reasons.append("accuracy drop unknown (no accuracy for the cell or its identity)")
        return "borderline"
    ci = drop.paired.ci_points if drop.paired else None
    if ci is None:
        notes.append("accuracy drop without CI (no per-sample correctness)")
    status = _judge(drop.drop_points, ci, max_drop)
    text = f"accuracy drop {drop.drop_points:.2f} points" + (f" [{ci.low:.2f}, {ci.high:.2f}]" if ci else "")
    if status == "fails":
        reasons.append(f"{text} exceeds {max_drop:g}")
    elif status == "borderline":
        reasons.append(f"{text}: the CI straddles {max_drop:g}")
    return status


def _no_speedup(rs: ResultSet, cell: CellResult, medians: MedianReplicates) -> bool | None:
    # The identity its own runtime serves (what the chain itself changes), else the default runtime's.
    identity = rs.find(cell.subject, "identity", cell.placement, cell.runtime) or rs.find(cell.subject, "identity",
                                                                                         cell.placement)
    if cell.chain == "identity" or identity is None or identity.status != OK or identity.latency_s.size == 0:
        return None
    pair = compare_cells(rs, [identity.name, cell.name], "none", medians=medians).pair(identity.name, cell.name)
    return pair.faster != cell.name


def _verdict(rs: ResultSet, cell: CellResult, max_latency_ms: float, percentile: int, max_drop: float,
             medians: MedianReplicates, max_model_mb: float | None = None,
             max_memory_mb: float | None = None) -> CellVerdict:
    reasons: list[str] = []
    notes: list[str] = []
    parts = footprint(cell)
    sizes = {"model_mb": largest([p.model_mb for p in parts]), "memory_mb": largest([p.peak_memory_mb for p in parts])}
    if cell.status != OK or cell.latency_s.size == 0:
        reasons.append(f"cell {cell.status}" + (f": {cell.error}" if cell.error else ""))
        return CellVerdict(cell.name, cell.subject, cell.chain, cell.placement, "fails", tuple(reasons), (),
                           None, cell.primary_accuracy, None, None, runtime=cell.runtime_label, **sizes)
    estimate = _latency_estimate(cell, percentile, notes)
    drop = accuracy_drop(rs, cell)
    statuses = [_latency_status(estimate, max_latency_ms, reasons),
                _accuracy_status(cell, drop, max_drop, reasons, notes),
                model_status(cell, max_model_mb, reasons), memory_status(cell, max_memory_mb, reasons)]
    status = max(statuses, key=_STATUS_RANK.__getitem__)
    return CellVerdict(cell.name, cell.subject, cell.chain, cell.placement, status, tuple(reasons), tuple(notes),
                       estimate, cell.primary_accuracy, drop, _no_speedup(rs, cell, medians),
                       runtime=cell.runtime_label, **sizes, median_s=float(np.median(cell.latency_s)),
                       median_ci=medians.interval(cell.name))


def _tail_tie(fastest: CellVerdict, other: CellVerdict) -> bool:
    """Whether `other`'s tail cannot be told from the fastest's: their CIs overlap, or it is within TAIL_TIE."""
    a, b = fastest.latency, other.latency
    if a is None or b is None or a.value is None or b.value is None:
        return False
    return _overlap(a.ci, b.ci) or b.value <= a.value * (1 + TAIL_TIE)


def _overlap(a: Interval | None, b: Interval | None) -> bool:
    """Whether two estimates cannot be told apart: both have CIs, and they overlap."""
    return a is not None and b is not None and a.low <= b.high and b.low <= a.high


def _median(v: CellVerdict) -> float:
    return v.median_s if v.median_s is not None else math.inf


def _drop_points(v: CellVerdict) -> float:
    return v.accuracy_drop.drop_points if v.accuracy_drop is not None else (0.0 if v.chain == "identity" else math.inf)


def _reach(v: CellVerdict) -> int:
    """How far along mobile -> edge -> cloud a cell's requests travel: its farthest tier's place. Of two cells
    as fast and as accurate, the nearer depends on fewer links (the same model at edge or cloud ran within
    2 % of each other, in either order from run to run)."""
    try:
        return path_position(Placement.parse(v.placement).tiers[-1])
    except PlanError:  # a placement from a CSV edgewise did not write: no route to judge it by
        return len(TIER_ORDER)


def _rank_key(v: CellVerdict) -> tuple[int, float]:
    latency = v.latency.value if v.latency and v.latency.value is not None else float("inf")
    return (_STATUS_RANK[v.status], latency)


def _mark_front(verdicts: list[CellVerdict]) -> list[CellVerdict]:
    points = [Point(v.cell, v.latency.value, v.accuracy) for v in verdicts
              if v.latency is not None and v.latency.value is not None and v.accuracy is not None]
    front = {p.name for p in pareto_front(points)}
    return [CellVerdict(**{**v.__dict__, "on_pareto_front": v.cell in front}) for v in verdicts]


def recommend(rs: ResultSet, max_latency_ms: float, percentile: int = DEFAULT_SLA.percentile,
              max_accuracy_drop: float = DEFAULT_SLA.max_accuracy_drop,
              placements: Iterable[str] | None = None, *, medians: MedianReplicates | None = None,
              max_model_mb: float | None = None, max_memory_mb: float | None = None) -> Recommendation:
    """Judge every cell (optionally only on the given placements) against the latency and accuracy bounds,
    and the model size and peak serving memory per tier where bounds for them are given.

    `medians`: bootstrap replicates already drawn for these results (Analyses.medians), to reuse."""
    Sla.checked(max_latency_ms=max_latency_ms, percentile=percentile, max_accuracy_drop=max_accuracy_drop,
                max_model_mb=max_model_mb, max_memory_mb=max_memory_mb)
    chosen = tuple(p.lower() for p in placements) if placements else None
    if chosen:
        unknown = [p for p in chosen if p not in rs.placements]
        if unknown:
            raise ConfigError(f"no cells on placement(s) {', '.join(unknown)}",
                              f"the results have {', '.join(rs.placements)}")
    medians = medians or MedianReplicates(rs)
    by_subject: dict[str, list[CellVerdict]] = defaultdict(list)
    for cell in rs.cells:
        if chosen is None or cell.placement in chosen:
            by_subject[cell.subject].append(_verdict(rs, cell, max_latency_ms, percentile, max_accuracy_drop, medians,
                                                     max_model_mb, max_memory_mb))
    verdicts = [v for vs in by_subject.values() for v in sorted(_mark_front(vs), key=_rank_key)]
    return Recommendation(max_latency_ms, percentile, max_accuracy_drop, chosen, tuple(verdicts), max_model_mb,
                          max_memory_mb)
