"""The numbers behind the report, as (headers, rows): shared by the HTML page and summary.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgewise.analysis import Analyses, CellVerdict, Interval, ResultSet
from edgewise.analysis.analyses import SpeedupSummary
from edgewise.analysis.results import DEFAULT_RUNTIME
from edgewise.report.plots import chain_order_key
from edgewise.report.source import Analysed
from edgewise.sla import Sla
from edgewise.vocabulary import OK

Rows = tuple[list[str], list[list[object]]]


@dataclass(frozen=True)
class Reference:
    """A published study set beside this one: the part of it this study's chains need, analysed."""

    label: str
    results: ResultSet
    analyses: Analyses


@dataclass
class ReportContext:
    study: Analysed
    sla: Sla
    colours: dict[str, str]
    findings: list[str] = field(default_factory=list)
    reference: list[Reference] = field(default_factory=list)
    across: Any = None  # analysis.conditions.ConditionAnalyses of a study with network conditions, else None

    @property
    def results(self) -> ResultSet:
        return self.study.results

    @property
    def analyses(self) -> Analyses:
        return self.study.analyses


def _points(value: float, ci: Interval | None) -> str:
    return f"{value:.2f}" + (f" [{ci.low:.2f}, {ci.high:.2f}]" if ci else "")


def latency_text(v: CellVerdict) -> str:
    """The percentile the verdict was judged on, with its CI, in ms (or why there is none)."""
    if v.latency is None:
        return "–"
    return v.latency.describe()


def drop_text(v: CellVerdict) -> str:
    if v.chain == "identity" and (v.accuracy_drop is None or v.accuracy_drop.baseline == v.cell):
        return "0 (baseline)"
    if v.accuracy_drop is None:
        return "unknown"
    paired = v.accuracy_drop.paired
    return _points(v.accuracy_drop.drop_points, paired.ci_points if paired else None)


def recommendation_rows(ctx: ReportContext) -> Rows:
    """Per subject the cell to ship (Recommendation.best); else the closest candidate and why it falls short."""
    rec = ctx.study.recommendation
    rows, served = [], []
    for subject in rec.subjects:
        best = rec.best(subject)
        shown = best or rec.ranked(subject)[0]
        why = (f"{sum(v.status == 'meets' for v in rec.ranked(subject))} of {len(rec.ranked(subject))} cells meet "
               "the SLA" if best else "no cell meets the SLA; closest: " + "; ".join(shown.reasons))
        rows.append([subject, shown.chain, shown.placement, shown.status, _accuracy_text(ctx.results.cell(shown.cell)),
                     latency_text(shown), drop_text(shown), why + "".join(f"; {n}" for n in shown.notes)])
        served.append(shown.runtime)
    return _runtime_column(ctx.results, ["subject", "chain", "placement", "status", "accuracy",
                                         "judged latency [95% CI], bound", "drop (points) [95% CI]", "why"],
                           rows, served, 3)


def verdict_rows(ctx: ReportContext) -> Rows:
    """Every cell judged against the SLA, per subject ranked: meets (fastest first), borderline, fails."""
    rows = []
    for v in ctx.study.recommendation.verdicts:
        flags = [*v.reasons, *v.notes]
        if v.no_significant_speedup:
            flags.append("no significant speed-up over identity here")
        rows.append([v.cell, v.status, latency_text(v), drop_text(v), v.model_mb, v.memory_mb,
                     "yes" if v.on_pareto_front else "", "; ".join(flags)])
    return ["cell", "status", "judged latency [95% CI], bound", "drop (points) [95% CI]", "model MB",
            "peak memory MB", "Pareto front", "why / notes"], rows


def latency_rows(ctx: ReportContext) -> Rows:
    """One row per cell, ordered subject, placement, median latency."""
    rows, served = [], []
    p = ctx.sla.percentile
    for subject in ctx.results.subjects:
        cells = [c for c in ctx.results.cells if c.subject == subject]
        cells.sort(key=lambda c: (ctx.results.placements.index(c.placement),
                                  float(np.median(c.latency_s)) if len(c.latency_s) else float("inf")))
        for c in cells:
            served.append(c.runtime_label)
            if c.status != OK or not len(c.latency_s):
                rows.append([subject, c.chain, c.placement, c.status, None, None, None, None, 0, _accuracy_text(c)])
                continue
            ci = ctx.analyses.median_ci(c.name)
            tail = ctx.study.verdict(c.name).latency
            at_p = tail.value * 1000 if tail and tail.value is not None and tail.percentile == p else None
            rows.append([subject, c.chain, c.placement, c.status, float(np.median(c.latency_s)) * 1000,
                         ci.low * 1000, ci.high * 1000, at_p, len(c.latency_s), _accuracy_text(c)])
    return _runtime_column(ctx.results, ["subject", "chain", "placement", "status", "median (ms)", "CI low",
                                         "CI high", f"p{p} (ms)", "n", "accuracy"], rows, served, 3)


def ordered_speedups(results: ResultSet, analyses: Analyses) -> list[SpeedupSummary]:
    """The speed-ups over identity per (chain, placement, runtime), placements in order, chains in report order."""
    order = results.placements
    return sorted(analyses.speedup_summaries,
                  key=lambda s: (order.index(s.placement), chain_order_key(s.chain, results)))


def speedup_rows(results: ResultSet, analyses: Analyses) -> Rows:
    """Ratio of medians identity / chain per (chain, placement), min / mean / max over subjects."""
    summaries = ordered_speedups(results, analyses)
    rows = [[s.chain, s.placement, s.minimum, s.mean, s.maximum, len(s.subjects)] for s in summaries]
    return _runtime_column(results, ["chain", "placement", "min ×", "mean ×", "max ×", "subjects"], rows,
                           [s.runtime or DEFAULT_RUNTIME for s in summaries], 2)


def _runtime_column(results: ResultSet, headers: list[str], rows: list[list[object]], runtimes: list[str],
                    at: int) -> Rows:
    """A runtime column at `at` where several runtimes served the cells (rows that differ only by runtime
    would read as duplicates); a study on one runtime keeps its tables as they were."""
    if len(results.runtimes) < 2:
        return headers, rows
    return [*headers[:at], "runtime", *headers[at:]], [[*r[:at], rt, *r[at:]] for r, rt in zip(rows, runtimes)]


def measured_rows(ctx: ReportContext) -> Rows:
    r = ctx.results
    ok = [c for c in r.cells if c.status == OK]
    measure = r.study.get("measure") or {}
    samples = sum(len(c.latency_s) for c in r.cells)
    warm = sum(len(c.warmup_latency_s) for c in r.cells)
    return ["what", "value"], [
        ["subjects", ", ".join(r.subjects)],
        ["chains", ", ".join(r.chains)],
        ["placements", ", ".join(r.placements)],
        *([["runtimes", ", ".join(r.runtimes)]] if len(r.runtimes) > 1 else []),
        ["cells", f"{len(r.cells)} ({len(ok)} ok, {len(r.cells) - len(ok)} not measured)"],
        ["latency samples", f"{samples:,} (+{warm:,} warm-up, left out of statistics)"],
        ["protocol", ", ".join(f"{k} {v}" for k, v in measure.items()) or "–"],
        ["profile / seed", f"{r.study.get('profile', '–')} / {r.study.get('seed', '–')}"],
        ["testbed", testbed_words(r.study.get("testbed") or {})],
    ]


def failed_rows(ctx: ReportContext) -> Rows:
    """The cells that were not measured, each with its reason (a failed build, a model too big for its tier)."""
    rows = [[c.name, c.status, c.error or "–"] for c in ctx.results.cells if c.status != OK]
    return ["cell", "status", "reason"], rows


def testbed_words(testbed: dict) -> str:
    """How the tiers and links came to be: emulated, modelled, or measured on real hosts."""
    kind = testbed.get("kind", "–")
    if testbed.get("real_hosts", kind == "remote"):  # results written before real_hosts was recorded
        return f"{kind}: measured on real hosts (links and tiers as they are, not emulated)"
    return f"{kind}: " + ("modelled, not emulated" if testbed.get("modelled") else "emulated and verified")


def _accuracy_text(cell) -> str:
    acc = cell.primary_accuracy
    return "–" if acc is None else f"{cell.metric} {acc * 100:.2f}%"
