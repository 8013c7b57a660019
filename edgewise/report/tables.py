"""The numbers behind the report, as (headers, rows): shared by the HTML page and summary.md."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgewise.analysis.results import ResultSet
from edgewise.report import source
from edgewise.report.plots import chain_order_key

Rows = tuple[list[str], list[list[object]]]


@dataclass(frozen=True)
class Sla:
    max_latency_ms: float = 50.0
    percentile: float = 95.0
    max_accuracy_drop: float = 1.0  # points of the primary metric

    @classmethod
    def of(cls, results: ResultSet) -> "Sla":
        sla = results.study.get("sla") or {}
        return cls(float(sla.get("max_latency_ms", 50.0)), float(sla.get("percentile", 95)),
                   float(sla.get("max_accuracy_drop", 1.0)))

    def describe(self) -> str:
        return (f"p{self.percentile:g} latency ≤ {self.max_latency_ms:g} ms and accuracy drop ≤ "
                f"{self.max_accuracy_drop:g} points against identity")


@dataclass
class ReportContext:
    results: ResultSet
    sla: Sla
    colours: dict[str, str]
    findings: list[str] = field(default_factory=list)
    reference: list[ResultSet] = field(default_factory=list)


def recommendation_rows(ctx: ReportContext) -> Rows:
    sla = ctx.sla
    rows = []
    for choice in source.recommend(ctx.results, sla.max_latency_ms, sla.percentile, sla.max_accuracy_drop):
        if choice.cell is None:
            rows.append([choice.subject, "none", "–", "–", None, None, choice.reason])
        else:
            rows.append([choice.subject, choice.cell.chain, choice.cell.placement, _accuracy_text(choice.cell),
                         choice.latency_ms, choice.accuracy_drop_points, choice.reason])
    return ["subject", "chain", "placement", "accuracy", f"p{sla.percentile:g} latency (ms)", "drop (points)",
            "why"], rows


def latency_rows(ctx: ReportContext) -> Rows:
    """One row per cell, ordered subject, placement, median latency."""
    rows = []
    p = ctx.sla.percentile
    for subject in ctx.results.subjects:
        cells = [c for c in ctx.results.cells if c.subject == subject]
        cells.sort(key=lambda c: (ctx.results.placements.index(c.placement),
                                  float(np.median(c.latency_s)) if len(c.latency_s) else float("inf")))
        for c in cells:
            if c.status != "ok" or not len(c.latency_s):
                rows.append([subject, c.chain, c.placement, c.status, None, None, None, None, 0, _accuracy_text(c)])
                continue
            median, lo, hi = source.median_ci(c.latency_s)
            rows.append([subject, c.chain, c.placement, c.status, median * 1000, lo * 1000, hi * 1000,
                         source.latency_percentile(c, p) * 1000, len(c.latency_s), _accuracy_text(c)])
    return ["subject", "chain", "placement", "status", "median (ms)", "CI low", "CI high", f"p{p:g} (ms)", "n",
            "accuracy"], rows


def speedup_rows(results: ResultSet) -> Rows:
    """Ratio of medians identity / chain per (chain, placement), min / mean / max over subjects."""
    rows = []
    for (chain, placement), by_subject in sorted(source.speedups(results).items(),
                                                 key=lambda kv: (results.placements.index(kv[0][1]),
                                                                 chain_order_key(kv[0][0]))):
        values = list(by_subject.values())
        rows.append([chain, placement, min(values), float(np.mean(values)), max(values), len(values)])
    return ["chain", "placement", "min ×", "mean ×", "max ×", "subjects"], rows


def measured_rows(ctx: ReportContext) -> Rows:
    r = ctx.results
    ok = [c for c in r.cells if c.status == "ok"]
    measure = r.study.get("measure") or {}
    samples = sum(len(c.latency_s) for c in r.cells)
    warm = sum(len(c.warmup_latency_s) for c in r.cells)
    return ["what", "value"], [
        ["subjects", ", ".join(r.subjects)],
        ["chains", ", ".join(r.chains)],
        ["placements", ", ".join(r.placements)],
        ["cells", f"{len(r.cells)} ({len(ok)} ok, {len(r.cells) - len(ok)} not measured)"],
        ["latency samples", f"{samples:,} (+{warm:,} warm-up, left out of statistics)"],
        ["protocol", ", ".join(f"{k} {v}" for k, v in measure.items()) or "–"],
        ["profile / seed", f"{r.study.get('profile', '–')} / {r.study.get('seed', '–')}"],
    ]


def _accuracy_text(cell) -> str:
    acc = cell.primary_accuracy
    return "–" if acc is None else f"{cell.metric} {acc * 100:.2f}%"
