"""Two runs of one study side by side: do their figures replicate?

A run's figures should move with the devices it emulates and the network, never with the host: this
compares the cell medians of two runs (the share within ±`within`), the decisions the study's findings
rest on (the fastest chain per subject and tier, the fastest placement per subject and chain, whether
each operator gives a significant speed-up) and the SLA's recommendation per subject, and carries each
run's host drift so that a difference can be read against what the host did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgewise.analysis.analyses import Analyses, default_analyses
from edgewise.analysis.recommend import recommend
from edgewise.analysis.results import ResultSet
from edgewise.sla import Sla
from edgewise.vocabulary import OK


@dataclass(frozen=True)
class CellPair:
    cell: str
    median_a_s: float
    median_b_s: float

    @property
    def ratio(self) -> float:
        return self.median_b_s / self.median_a_s


@dataclass(frozen=True)
class Changed:
    """One decision that differs between the runs: what is decided, and each run's answer."""

    what: str
    a: str
    b: str


@dataclass
class RunComparison:
    within: float
    pairs: list[CellPair] = field(default_factory=list)
    only_in_one: list[str] = field(default_factory=list)
    decisions: int = 0
    changed: list[Changed] = field(default_factory=list)
    recommendations: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    drift: tuple[dict[str, Any], dict[str, Any]] = ({}, {})

    @property
    def agreeing(self) -> list[CellPair]:
        return [p for p in self.pairs if abs(p.ratio - 1) <= self.within]

    @property
    def recommendations_match(self) -> bool:
        return all(a == b for a, b in self.recommendations.values())

    def to_dict(self) -> dict[str, Any]:
        return {"within": self.within, "cells": len(self.pairs), "agreeing": len(self.agreeing),
                "median_ratio": float(np.median([p.ratio for p in self.pairs])) if self.pairs else None,
                "pairs": [{"cell": p.cell, "median_a_ms": p.median_a_s * 1e3, "median_b_ms": p.median_b_s * 1e3,
                           "ratio": p.ratio} for p in self.pairs],
                "only_in_one": self.only_in_one, "decisions": self.decisions,
                "changed": [{"what": c.what, "a": c.a, "b": c.b} for c in self.changed],
                "recommendations": {s: {"a": a, "b": b} for s, (a, b) in self.recommendations.items()},
                "recommendations_match": self.recommendations_match,
                "drift": {"a": self.drift[0], "b": self.drift[1]}}


def compare_runs(a: ResultSet, b: ResultSet, within: float = 0.10, sla: Sla | None = None) -> RunComparison:
    """Run `b` against run `a`: cells by name, decisions, recommendations (the SLA of run a by default)."""
    out = RunComparison(within, drift=(drift_of(a), drift_of(b)))
    ok_a = {c.name: c for c in a.cells if c.status == OK and len(c.latency_s)}
    ok_b = {c.name: c for c in b.cells if c.status == OK and len(c.latency_s)}
    for name in ok_a:
        if name in ok_b:
            out.pairs.append(CellPair(name, float(np.median(ok_a[name].latency_s)),
                                      float(np.median(ok_b[name].latency_s))))
    out.only_in_one = sorted(set(ok_a) ^ set(ok_b))
    shared = [name for name in ok_a if name in ok_b]
    part_a, part_b = _only(a, shared), _only(b, shared)
    decided_a, decided_b = decisions(part_a, default_analyses(part_a)), decisions(part_b, default_analyses(part_b))
    out.decisions = len(decided_a.keys() & decided_b.keys())
    out.changed = [Changed(what, decided_a[what], decided_b[what]) for what in decided_a
                   if what in decided_b and decided_a[what] != decided_b[what]]
    sla = sla or Sla.of(a.study)
    rec_a, rec_b = (recommend(part, sla.max_latency_ms, sla.percentile, sla.max_accuracy_drop)
                    for part in (part_a, part_b))
    for subject in rec_a.subjects:
        best_a, best_b = rec_a.best(subject), rec_b.best(subject)
        out.recommendations[subject] = (best_a.cell if best_a else None, best_b.cell if best_b else None)
    return out


def decisions(rs: ResultSet, analyses: Analyses) -> dict[str, str]:
    """What the study's findings rest on, each as (question -> answer): the fastest chain per subject and
    tier, the fastest placement per subject and chain, and whether each chain is significantly faster than
    identity where it runs."""
    out = {}
    for comp in analyses.chain_comparisons:
        first = rs.cell(comp.cells[0])
        out[f"fastest chain for {first.subject} on {first.placement}"] = rs.cell(comp.fastest()).chain
    for comp in analyses.placement_comparisons:
        first = rs.cell(comp.cells[0])
        out[f"fastest placement for {first.subject}:{first.chain}"] = rs.cell(comp.fastest()).placement
    for s in analyses.speedups:
        out[f"{s.subject}:{s.chain} significantly faster than identity on {s.placement}"] = (
            "yes" if s.significant else "no")
    return out


def drift_of(rs: ResultSet) -> dict[str, Any]:
    """A run's host drift in brief: the host's factor quantiles, samples taken again and kept unheld."""
    record = rs.study.get("drift") or {}
    return {"factor": record.get("factor") or {}, "unheld": record.get("unheld") or {}}


def _only(rs: ResultSet, names: list[str]) -> ResultSet:
    keep = set(names)
    return ResultSet([c for c in rs.cells if c.name in keep], rs.study, rs.environment, rs.emulation)
