"""The eight sections of the HTML report, each a function of the ReportContext returning HTML."""

from __future__ import annotations

import json
from html import escape

import numpy as np

from edgewise.analysis.results import CellResult
from edgewise.report import plots, source
from edgewise.report.htmlparts import figures, how_to_read, note, section, table
from edgewise.report.tables import ReportContext, latency_rows, measured_rows, recommendation_rows, speedup_rows

_MAX_OUTLIERS = 20  # per box: the most extreme ones, so 500-sample cells stay light


def summary(ctx: ReportContext) -> str:
    r = ctx.results
    headers, rows = recommendation_rows(ctx)
    parts = [f"<p>Service-level objective: <b>{escape(ctx.sla.describe())}</b>.</p>",
             table(headers, rows, caption="Recommendation per subject: the fastest cell that meets the SLA"),
             "<h3>Top findings</h3>" + _finding_list(ctx.findings),
             "<h3>What was measured</h3>", table(*measured_rows(ctx), sortable=False),
             "<h3>Testbed, as verified</h3>", _testbed(ctx), "<h3>Environment</h3>",
             table(["key", "value"], [[k, "–" if v is None else str(v)] for k, v in r.environment.items()],
                   sortable=False) if r.environment else note("No environment was recorded."),
             ]
    for text in r.study.get("notes") or []:
        parts.append(note(text))
    return section("summary", "1. Summary", "".join(parts))


def _finding_list(items: list[str], shown: int = 8) -> str:
    """The first findings in view, the rest folded away so the summary stays one screen."""
    def items_html(xs: list[str]) -> str:
        return "<ul>" + "".join(f"<li>{escape(x)}</li>" for x in xs) + "</ul>"

    rest = items[shown:]
    more = f"<details><summary>{len(rest)} more findings</summary>{items_html(rest)}</details>" if rest else ""
    return items_html(items[:shown]) + more


def findings(results) -> list[str]:
    """The analysis package's findings, then the cells that could not be measured."""
    out = source.study_findings(results)
    failed = [c for c in results.cells if c.status != "ok"]
    if failed:
        out.append(f"{len(failed)} cell(s) not measured: " + "; ".join(f"{c.name} ({c.status})" for c in failed[:4])
                   + ("; …" if len(failed) > 4 else ""))
    return out or ["No finding: too few cells to compare."]


def _testbed(ctx: ReportContext) -> str:
    study, emu = ctx.results.study, ctx.results.emulation
    testbed = study.get("testbed") or {}
    head = note(f"kind {testbed.get('kind', '–')}, preset {testbed.get('preset', '–')}"
                + (" (modelled, not emulated)" if testbed.get("modelled") else ""))
    if not emu:
        return head + note("No emulation report: the tiers' and links' achieved figures were not verified.")
    links = [[e.get("link"), e.get("direction"), e.get("requested_mbit"), e.get("achieved_mbit"),
              e.get("requested_delay_ms"), e.get("achieved_rtt_ms")] for e in emu.get("links", [])]
    tiers = [[e.get("tier"), e.get("requested_cpus"), e.get("achieved_cpus")] for e in emu.get("tiers", [])]
    memory = [[e.get("tier"), e.get("requested_mb"), "yes" if e.get("hog_killed") else "no"]
              for e in emu.get("memory", [])]
    verdict = "verified within tolerance" if emu.get("ok") else "NOT within tolerance: read latencies with care"
    return (head + note(f"Emulation {verdict}.")
            + table(["link", "direction", "requested Mbit/s", "achieved Mbit/s", "requested delay (ms)",
                     "achieved RTT (ms)"], links)
            + table(["tier", "requested CPUs", "achieved CPUs"], tiers)
            + (table(["tier", "memory cap (MiB)", "over-cap process killed"], memory) if memory else ""))


def latency(ctx: ReportContext) -> str:
    charts = []
    for subject in ctx.results.subjects:
        boxes = []
        for placement in ctx.results.placements:
            cells = [c for c in ctx.results.cells if c.subject == subject and c.placement == placement
                     and c.status == "ok" and len(c.latency_s)]
            for c in sorted(cells, key=lambda c: plots.chain_order_key(c.chain)):
                boxes.append(_box(c, ctx.colours[c.chain]))
        if boxes:
            charts.append(plots.box_chart(f"{subject}: end-to-end latency of every cell, by placement", boxes))
    body = (how_to_read("one row per chain, grouped by placement; box = middle half of the requests, dark band = "
                        "95% CI of the median, black tick = median (value on the right), whiskers = 1.5 IQR, dots = "
                        f"up to {_MAX_OUTLIERS} most extreme requests beyond. Warm-up passes are left out.")
            + figures(charts) + table(*latency_rows(ctx), caption="Latency per cell (click a header to sort)"))
    return section("latency", "2. Latency", body)


def _box(cell: CellResult, colour: str) -> plots.Box:
    ms = cell.latency_s * 1000
    q1, median, q3 = np.percentile(ms, [25, 50, 75])
    iqr = q3 - q1
    inside = ms[(ms >= q1 - 1.5 * iqr) & (ms <= q3 + 1.5 * iqr)]
    beyond = np.sort(ms[(ms < q1 - 1.5 * iqr) | (ms > q3 + 1.5 * iqr)])
    if len(beyond) > _MAX_OUTLIERS:
        beyond = np.concatenate([beyond[: _MAX_OUTLIERS // 2], beyond[-_MAX_OUTLIERS // 2:]])
    _, lo, hi = source.median_ci(ms)
    return plots.Box(cell.chain, cell.placement, colour, float(q1), float(median), float(q3), float(inside.min()),
                     float(inside.max()), lo, hi, len(ms), tuple(float(v) for v in beyond))


def accuracy_vs_latency(ctx: ReportContext) -> str:
    sla, r = ctx.sla, ctx.results
    blocks = []
    for placement in r.placements:
        charts = []
        for subject in r.subjects:
            cells = [c for c in r.cells if c.subject == subject and c.placement == placement and c.status == "ok"
                     and c.primary_accuracy is not None and len(c.latency_s)]
            if not cells:
                continue
            xy = [(source.latency_percentile(c, sla.percentile) * 1000, c.primary_accuracy * 100) for c in cells]
            points = [plots.Point(c.chain, ctx.colours[c.chain], x, y,
                                  f"{c.name}: p{sla.percentile:g} {x:,.1f} ms, {c.metric} {y:.2f}%")
                      for c, (x, y) in zip(cells, xy)]
            front = [xy[i] for i in source.pareto_front(xy)]
            base = source.identity_accuracy(r, subject, placement)
            floor = None if base is None else base * 100 - sla.max_accuracy_drop
            metric = cells[0].metric
            charts.append(plots.scatter_chart(f"{subject} on {placement}", points, front,
                                              f"p{sla.percentile:g} latency (ms)", f"{metric} (%)",
                                              sla.max_latency_ms, floor))
        if charts:
            blocks.append(f"<h3>{escape(placement)}</h3>" + figures(charts))
    if not blocks:
        blocks.append(note("No cell has both an accuracy and latencies."))
    body = how_to_read("each dot is a chain; up and left is better. The dashed step line is the Pareto front (no "
                       "other chain is both faster and more accurate); the green area meets the SLA "
                       "(latency under the budget, accuracy within the allowed drop from identity on the same "
                       "placement).") + "".join(blocks)
    return section("accuracy", "3. Accuracy against latency", body)


def breakdown(ctx: ReportContext) -> str:
    r = ctx.results
    charts = []
    for subject in r.subjects:
        rows = []
        for placement in r.placements:
            cells = [c for c in r.cells if c.subject == subject and c.placement == placement and c.breakdown_s
                     and len(c.latency_s)]
            for c in sorted(cells, key=lambda c: plots.chain_order_key(c.chain)):
                parts = [(name, float(np.mean(v)) * 1000) for name, v in c.breakdown_s.items() if len(v)]
                # Means add up (medians do not): what the named components miss is shown as "other".
                other = float(np.mean(c.latency_s)) * 1000 - sum(v for _, v in parts)
                if other > 0:
                    parts.append(("other", other))
                rows.append(plots.StackedRow(f"{c.chain} @ {placement}", parts))
        if rows:
            charts.append(plots.stacked_bars(f"{subject}: where the time of a request goes", rows))
    if not charts:
        body = note("These results carry no per-request breakdown (the reference study measured only end-to-end "
                    "latency), so where the time goes cannot be shown.")
    else:
        body = how_to_read("each bar is one cell's mean request, split into encoding on the client, each link's "
                           "transfer, preprocessing, the compute of each model part and decoding; 'other' is the "
                           "rest of the end-to-end time (queues, serialisation).") + figures(charts)
    return section("breakdown", "4. Where the time goes", body)


def speedup_charts(results, colours: dict[str, str], label: str) -> list[str]:
    _, rows = speedup_rows(results)
    charts = []
    for placement in results.placements:
        ranges = [plots.Range(chain, colours.get(chain, "#777"), lo, mean, hi,
                              f"{chain} on {placement}: min {lo:.2f}×, mean {mean:.2f}×, max {hi:.2f}× over {n} subjects")
                  for chain, place, lo, mean, hi, n in rows if place == placement]
        if ranges:
            charts.append(plots.range_chart(f"{label}: speed-up over identity on {placement}", ranges,
                                            "ratio of median latencies, identity / chain"))
    return charts


def speedups(ctx: ReportContext) -> str:
    charts = speedup_charts(ctx.results, ctx.colours, ctx.results.study.get("name", "this study"))
    body = (how_to_read("right of the dashed 1× line the chain is faster than identity on the same placement "
                        "(a partition against identity on its first tier); the bar spans the subjects' min to max, "
                        "the dot is their mean.")
            + (figures(charts) if charts else note("No chain has an identity cell to compare with."))
            + table(*speedup_rows(ctx.results), caption="Speed-up over identity"))
    return section("speedups", "5. Speed-ups", body)


def significance(ctx: ReportContext) -> str:
    r = ctx.results
    blocks = []
    for subject in r.subjects:
        charts = []
        for placement in r.placements:
            groups = {c.chain: c.latency_s for c in _ok(r, subject=subject, placement=placement)}
            if len(groups) > 1:
                charts.append(_heatmap(f"{subject} on {placement}: chains", groups))
        for chain in r.chains:
            groups = {c.placement: c.latency_s for c in _ok(r, subject=subject, chain=chain)}
            if len(groups) > 1:
                charts.append(_heatmap(f"{subject}, {chain}: placements", groups))
        if charts:
            blocks.append(f"<h3>{escape(subject)}</h3>" + figures(charts))
    body = how_to_read("each square compares the row with the column by Cliff's delta over their latencies: "
                       "blue = the row is faster, red = slower; the label gives the magnitude (negligible < 0.147 "
                       "≤ small < 0.33 ≤ medium < 0.474 ≤ large) and stars for the Conover p after Kruskal-Wallis, Holm-adjusted "
                       "(* < 0.05, ** < 0.01, *** < 0.001).") + ("".join(blocks) or note("Nothing to compare."))
    return section("significance", "6. Significance", body)


def _ok(r, **criteria: str) -> list[CellResult]:
    return [c for c in r.cells if c.status == "ok" and len(c.latency_s) > 1
            and all(getattr(c, k) == v for k, v in criteria.items())]


def _heatmap(title: str, groups: dict[str, np.ndarray]) -> str:
    cells = {k: plots.HeatCell(v.delta, v.magnitude, v.p_adjusted) for k, v in source.pairwise(groups).items()}
    return plots.heatmap(title, list(groups), cells)


def operator_notes(ctx: ReportContext) -> str:
    rows = []
    for c in ctx.results.cells:
        meta = (c.artifact or {}).get("meta") or {}
        notes = [f"{k}: {_compact(v)}" for k, v in meta.items()
                 if k not in ("estimate", "warnings") and not k.startswith("reference_")]
        estimate = meta.get("estimate") or {}
        if "total_s" in estimate and len(c.latency_s):
            measured = float(np.median(c.latency_s))
            notes.append(f"cut estimate {estimate['total_s'] * 1000:,.1f} ms vs measured median "
                         f"{measured * 1000:,.1f} ms ({measured / estimate['total_s']:.2f}×)")
        warnings = "; ".join(meta.get("warnings") or [])
        if c.error:
            warnings = (warnings + "; " if warnings else "") + c.error
        if notes or warnings:
            rows.append([c.name, c.status, c.artifact.get("size_bytes"), " · ".join(notes), warnings])
    if not rows:
        return section("operators", "8. Operator notes", note("The artifacts carry no operator notes."))
    body = how_to_read("what each operator reported while building the cell's artifact: quantized nodes and "
                       "fallbacks, pruning's MACs and parameters, the partition cut with its estimate against the "
                       "measured median, and warnings such as 'no speed-up'.") + table(
        ["cell", "status", "artifact bytes", "notes", "warnings / errors"], rows, classes={4: "warn"})
    return section("operators", "8. Operator notes", body)


def _compact(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(", ", ": "))
        return text if len(text) <= 160 else text[:157] + "…"
    return str(value)
