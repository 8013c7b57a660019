"""The default analyses of a result set: the reference study's questions asked of every subject.

- placements: for each subject and chain (and runtime), are its placements different?
- chains: for each subject and placement (and runtime), are the chains different?
- runtimes: for each subject, chain and placement served by several runtimes, are the runtimes different?
- partitions: for each subject and split placement, its chains against identity on the first tier
  (where the client sends: the alternative to splitting the model);
- accuracy: each chain's drop against identity per subject (paired when correctness exists), and
  across subjects the Wilcoxon signed-rank test of identity against the chain, as the reference did;
- speed-ups: median(identity) / median(chain) per subject and placement (a split placement against identity on
  its first tier), then min / mean / max across subjects.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from edgewise.analysis.accuracy import AccuracyDrop, accuracy_drop
from edgewise.analysis.bootstrap import Interval
from edgewise.analysis.compare import Comparison, MedianReplicates, compare_cells
from edgewise.analysis.results import PLACEMENT_ORDER, CellResult, ResultSet
from edgewise.analysis.stats import CliffsDelta, PAdjust, WilcoxonResult, cliffs_delta, wilcoxon


@dataclass(frozen=True)
class Speedup:
    """median(identity) / median(chain) on one tier for one subject; > 1 means the chain is faster."""

    subject: str
    placement: str
    chain: str
    ratio: float
    ci: Interval
    significant: bool  # the chain is significantly faster than identity there
    comparison: str
    runtime: str = ""  # both cells' runtime ("" for ONNX Runtime as it is)

    def to_dict(self) -> dict:
        return {"subject": self.subject, "placement": self.placement, "chain": self.chain, "ratio": self.ratio,
                "ci": self.ci.to_dict(), "significant_speedup": self.significant, "comparison": self.comparison,
                **({"runtime": self.runtime} if self.runtime else {})}


@dataclass(frozen=True)
class SpeedupSummary:
    chain: str
    placement: str
    minimum: float
    mean: float
    maximum: float
    subjects: tuple[str, ...]
    runtime: str = ""

    def to_dict(self) -> dict:
        return {"chain": self.chain, "placement": self.placement, "min": self.minimum, "mean": self.mean,
                "max": self.maximum, "subjects": list(self.subjects),
                **({"runtime": self.runtime} if self.runtime else {})}


@dataclass(frozen=True)
class AccuracyTest:
    """Across subjects: identity's primary accuracy against the chain's (paired by subject)."""

    chain: str
    subjects: tuple[str, ...]
    wilcoxon: WilcoxonResult
    delta: CliffsDelta  # identity against the chain; > 0 means identity tends to be more accurate

    def to_dict(self) -> dict:
        return {"chain": self.chain, "subjects": list(self.subjects), "wilcoxon_p": self.wilcoxon.p,
                "wilcoxon_statistic": self.wilcoxon.statistic, "wilcoxon_method": self.wilcoxon.method,
                "cliffs_delta": self.delta.d, "magnitude": self.delta.magnitude}


@dataclass(frozen=True)
class Analyses:
    p_adjust: PAdjust
    placement_comparisons: tuple[Comparison, ...]
    chain_comparisons: tuple[Comparison, ...]
    accuracy_drops: tuple[AccuracyDrop, ...]
    accuracy_tests: tuple[AccuracyTest, ...]
    speedups: tuple[Speedup, ...]
    speedup_summaries: tuple[SpeedupSummary, ...]
    partition_comparisons: tuple[Comparison, ...] = ()
    medians: MedianReplicates | None = field(default=None, compare=False, repr=False)
    runtime_comparisons: tuple[Comparison, ...] = ()

    @property
    def comparisons(self) -> tuple[Comparison, ...]:
        return (self.placement_comparisons + self.chain_comparisons + self.partition_comparisons
                + self.runtime_comparisons)

    def median_ci(self, cell: str) -> Interval:
        """Bootstrap CI of a cell's median latency, reusing the replicates drawn for the comparisons."""
        if self.medians is None:
            raise ValueError("these analyses kept no median replicates")
        return self.medians.interval(cell)

    def comparison(self, id: str) -> Comparison:
        return next(c for c in self.comparisons if c.id == id)

    def to_dict(self) -> dict:
        return {"p_adjust": self.p_adjust,
                "placement_comparisons": [c.to_dict() for c in self.placement_comparisons],
                "chain_comparisons": [c.to_dict() for c in self.chain_comparisons],
                "partition_comparisons": [c.to_dict() for c in self.partition_comparisons],
                "runtime_comparisons": [c.to_dict() for c in self.runtime_comparisons],
                "accuracy_drops": [a.to_dict() for a in self.accuracy_drops],
                "accuracy_tests": [a.to_dict() for a in self.accuracy_tests],
                "speedups": [s.to_dict() for s in self.speedups],
                "speedup_summaries": [s.to_dict() for s in self.speedup_summaries]}


def placements_id(subject: str, chain: str, runtime: str = "") -> str:
    return f"placements:{subject}:{chain}" + (f"/{runtime}" if runtime else "")


def chains_id(subject: str, placement: str, runtime: str = "") -> str:
    return f"chains:{subject}@{placement}" + (f"/{runtime}" if runtime else "")


def runtimes_id(subject: str, chain: str, placement: str) -> str:
    return f"runtimes:{subject}:{chain}@{placement}"


def _through(runtime: str) -> str:
    return f" through {runtime}" if runtime else ""


def partitions_id(subject: str, placement: str) -> str:
    return f"partitions:{subject}@{placement}"


def _grouped(cells: list[CellResult], key) -> dict[tuple[str, ...], list[str]]:
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for c in cells:
        groups[key(c)].append(c.name)
    return {k: v for k, v in groups.items() if len(v) >= 2}


def _representative_drops(rs: ResultSet) -> list[AccuracyDrop]:
    """One drop per (subject, chain), from the chain's first cell in tier order that has accuracy."""
    order = {p: i for i, p in enumerate(PLACEMENT_ORDER)}
    drops: dict[tuple[str, str], AccuracyDrop] = {}
    for c in sorted(rs.cells, key=lambda c: order.get(c.placement, len(order))):
        if c.chain == "identity" or (c.subject, c.chain) in drops:
            continue
        if (drop := accuracy_drop(rs, c)) is not None:
            drops[(c.subject, c.chain)] = drop
    return list(drops.values())


def _accuracy_tests(rs: ResultSet, drops: list[AccuracyDrop]) -> list[AccuracyTest]:
    by_chain: dict[str, list[AccuracyDrop]] = defaultdict(list)
    for d in drops:
        by_chain[rs.cell(d.cell).chain].append(d)
    tests = []
    for chain, ds in by_chain.items():
        base, cand = np.array([d.baseline_accuracy for d in ds]), np.array([d.accuracy for d in ds])
        tests.append(AccuracyTest(chain, tuple(rs.cell(d.cell).subject for d in ds), wilcoxon(base, cand),
                                  cliffs_delta(base, cand)))
    return tests


def _partition_groups(cells: list[CellResult]) -> dict[tuple[str, str], list[str]]:
    """(subject, split placement, runtime) -> identity on the first tier, then the chains on the split placement."""
    names = {c.name for c in cells}
    groups: dict[tuple[str, str, str], list[str]] = {}
    for c in cells:
        identity = f"{c.subject}:identity@{c.placement.split('-')[0]}" + (f"/{c.runtime}" if c.runtime else "")
        if not c.is_single_tier and identity in names:
            groups.setdefault((c.subject, c.placement, c.runtime), [identity]).append(c.name)
    return groups


def _speedups(rs: ResultSet, comparisons: list[Comparison]) -> list[Speedup]:
    """Every chain against the identity cell of its comparison (chains on a tier, or a split placement's)."""
    out = []
    for comp in comparisons:
        identity = next((n for n in comp.cells if rs.cell(n).chain == "identity"), None)
        if identity is None:
            continue
        for name in comp.cells:
            if name == identity:
                continue
            cell, pair = rs.cell(name), comp.pair(identity, name)
            out.append(Speedup(cell.subject, cell.placement, cell.chain, pair.ratio, pair.ratio_ci,
                               pair.faster == name, comp.id, cell.runtime))
    return out


def _summaries(speedups: list[Speedup]) -> list[SpeedupSummary]:
    groups: dict[tuple[str, str, str], list[Speedup]] = defaultdict(list)
    for s in speedups:
        groups[(s.chain, s.placement, s.runtime)].append(s)
    return [SpeedupSummary(chain, placement, min(r := [s.ratio for s in ss]), float(np.mean(r)), max(r),
                           tuple(s.subject for s in ss), runtime)
            for (chain, placement, runtime), ss in groups.items()]


def default_analyses(rs: ResultSet, p_adjust: PAdjust = "holm") -> Analyses:
    ok = rs.filter(ok_only=True)
    usable = [c for c in ok.cells if c.latency_s.size > 0]
    medians = MedianReplicates(rs)
    placement_comparisons = [
        compare_cells(rs, names, p_adjust, id=placements_id(subject, chain, runtime),
                      title=f"{subject}: placements of {chain}{_through(runtime)}", medians=medians)
        for (subject, chain, runtime), names in _grouped(usable, lambda c: (c.subject, c.chain, c.runtime)).items()]
    chain_comparisons = [
        compare_cells(rs, names, p_adjust, id=chains_id(subject, placement, runtime),
                      title=f"{subject}: chains on {placement}{_through(runtime)}", medians=medians)
        for (subject, placement, runtime), names
        in _grouped(usable, lambda c: (c.subject, c.placement, c.runtime)).items()]
    partition_comparisons = [
        compare_cells(rs, names, p_adjust, id=partitions_id(subject, placement) + (f"/{runtime}" if runtime else ""),
                      title=f"{subject}: {placement} against identity on {placement.split('-')[0]}{_through(runtime)}",
                      medians=medians)
        for (subject, placement, runtime), names in _partition_groups(usable).items()]
    runtime_comparisons = [
        compare_cells(rs, names, p_adjust, id=runtimes_id(subject, chain, placement),
                      title=f"{subject}: runtimes serving {chain} on {placement}", medians=medians)
        for (subject, chain, placement), names
        in _grouped(usable, lambda c: (c.subject, c.chain, c.placement)).items()]
    drops = _representative_drops(ok)
    speedups = _speedups(rs, chain_comparisons + partition_comparisons)
    return Analyses(p_adjust, tuple(placement_comparisons), tuple(chain_comparisons), tuple(drops),
                    tuple(_accuracy_tests(rs, drops)), tuple(speedups), tuple(_summaries(speedups)),
                    tuple(partition_comparisons), medians, tuple(runtime_comparisons))
