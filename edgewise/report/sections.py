"""The eight sections of the HTML report, each a function of the ReportContext returning HTML."""

from __future__ import annotations

import json
from html import escape

import numpy as np

from edgewise.analysis import Analyses, CellResult, Comparison, Point, ResultSet, pareto_front
from edgewise.analysis.results import DEFAULT_RUNTIME
from edgewise.analysis.why import why
from edgewise.report import plots
from edgewise.report.htmlparts import figures, how_to_read, note, section, table
from edgewise.report.source import Analysed
from edgewise.report.svg import fmt
from edgewise.report.tables import (
    ReportContext,
    failed_rows,
    latency_rows,
    measured_rows,
    ordered_speedups,
    recommendation_rows,
    speedup_rows,
    testbed_words,
    verdict_rows,
)
from edgewise.vocabulary import OK

_MAX_OUTLIERS = 20  # per box: the most extreme ones, so 500-sample cells stay light


def summary(ctx: ReportContext) -> str:
    r = ctx.results
    headers, rows = recommendation_rows(ctx)
    parts = [f"<p>Service-level objective: <b>{escape(ctx.sla.describe())}</b>; "
             f"{escape(ctx.study.recommendation.judged_on())}.</p>",
             table(headers, rows, caption="Recommendation per subject: the fastest cell that meets the SLA (of cells "
                                           "whose latencies overlap, the most accurate)"),
             "<details><summary>Every cell against the SLA (meets: the percentile's early-stopping upper bound, "
             "or without one the value and its 95% CI, within the bounds; borderline: the bound or a CI "
             "straddles a bound)</summary>",
             table(*verdict_rows(ctx), classes={7: "reason"}), "</details>",
             "<h3>Top findings</h3>" + _finding_list(ctx.findings),
             "<h3>What was measured</h3>", table(*measured_rows(ctx), sortable=False),
             *(["<h3>Cells not measured</h3>", table(*failed_rows(ctx), classes={2: "reason"})]
               if failed_rows(ctx)[1] else []),
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


def findings(data: Analysed) -> list[str]:
    """The analysis package's findings, then the cells that could not be measured."""
    results, out = data.results, list(data.findings)
    failed = [c for c in results.cells if c.status != OK]
    if failed:
        out.append(f"{len(failed)} cell(s) not measured: " + "; ".join(f"{c.name} ({c.status})" for c in failed[:4])
                   + ("; …" if len(failed) > 4 else ""))
    return out or ["No finding: too few cells to compare."]


def _testbed(ctx: ReportContext) -> str:
    study, emu = ctx.results.study, ctx.results.emulation
    testbed = study.get("testbed") or {}
    if testbed.get("real_hosts", testbed.get("kind") == "remote"):  # results written before real_hosts was recorded
        head = note(testbed_words(testbed)) + _hosts(emu.get("hosts") or {})
    else:
        head = note(f"kind {testbed.get('kind', '–')}, preset {testbed.get('preset', '–')}"
                    + (" (modelled, not emulated)" if testbed.get("modelled") else ""))
    if not emu:
        return head + note("No emulation report: the tiers' and links' achieved figures were not verified.")
    if "figures" in emu:  # the testbed's EmulationReport: one row per verified figure
        rows = [[f.get("name"), f.get("requested"), f.get("achieved"), f.get("unit"), f.get("error"),
                 f.get("note") or ""] for f in emu["figures"]]
        labels = emu.get("labels") or {}
        parts = sorted({part for kinds in labels.values() for part in kinds})
        what = (table(["tier", *parts], [[tier, *(kinds.get(p, "–") for p in parts)] for tier, kinds in labels.items()],
                      caption="What is enforced and what is modelled, per tier", sortable=False) if labels else "")
        return (head + "".join(note(n) for n in emu.get("notes") or []) + what
                + table(["figure", "requested", "achieved", "unit", "error", "note"], rows))
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


def _hosts(hosts: dict) -> str:
    """One row per real tier host, as its server described itself."""
    if not hosts:
        return ""
    rows = []
    for tier, h in hosts.items():
        cap = h.get("memory_cap") or {}
        memory = "no cap" if not cap.get("memory_mb") else (
            f"{cap['memory_mb']} MiB " + ("enforced (" + str(cap.get("how")) + ")" if cap.get("enforced")
                                          else "NOT enforced"))
        rows.append([tier, h.get("cpu"), h.get("cores"), h.get("memory_mb"), h.get("os"), h.get("onnxruntime"),
                     ", ".join(h.get("providers") or []), h.get("threads"), memory, h.get("edgewise")])
    return table(["tier", "CPU", "cores", "memory (MiB)", "OS", "ONNX Runtime", "execution providers", "threads",
                  "memory cap", "edgewise"], rows, sortable=False)


def latency(ctx: ReportContext) -> str:
    charts = []
    for subject in ctx.results.subjects:
        boxes = []
        for placement in ctx.results.placements:
            cells = [c for c in ctx.results.cells if c.subject == subject and c.placement == placement
                     and c.status == OK and len(c.latency_s)]
            for c in sorted(cells, key=lambda c: plots.chain_order_key(c.chain, ctx.results)):
                boxes.append(_box(c, ctx.colours[c.chain], ctx))
        if boxes:
            charts.append(plots.box_chart(f"{subject}: end-to-end latency of every cell, by placement", boxes))
    body = (how_to_read("one row per chain, grouped by placement; box = middle half of the requests, dark band = "
                        "95% CI of the median, black tick = median (value on the right), whiskers = 1.5 IQR, dots = "
                        f"up to {_MAX_OUTLIERS} most extreme requests beyond. Warm-up passes are left out.")
            + figures(charts) + table(*latency_rows(ctx), caption="Latency per cell (click a header to sort)"))
    return section("latency", "2. Latency", body)


def _box(cell: CellResult, colour: str, ctx: ReportContext) -> plots.Box:
    ms = cell.latency_s * 1000
    q1, median, q3 = np.percentile(ms, [25, 50, 75])
    iqr = q3 - q1
    inside = ms[(ms >= q1 - 1.5 * iqr) & (ms <= q3 + 1.5 * iqr)]
    beyond = np.sort(ms[(ms < q1 - 1.5 * iqr) | (ms > q3 + 1.5 * iqr)])
    if len(beyond) > _MAX_OUTLIERS:
        beyond = np.concatenate([beyond[: _MAX_OUTLIERS // 2], beyond[-_MAX_OUTLIERS // 2:]])
    ci = ctx.analyses.median_ci(cell.name)
    return plots.Box(cell.chain, cell.placement, colour, float(q1), float(median), float(q3), float(inside.min()),
                     float(inside.max()), ci.low * 1000, ci.high * 1000, len(ms), tuple(float(v) for v in beyond))


def accuracy_vs_latency(ctx: ReportContext) -> str:
    sla, r = ctx.sla, ctx.results
    blocks, fallback = [], False
    for placement in r.placements:
        charts = []
        for subject in r.subjects:
            verdicts = [v for c in r.cells if c.subject == subject and c.placement == placement
                        and c.primary_accuracy is not None and (v := ctx.study.verdict(c.name)) is not None
                        and v.latency is not None and v.latency.value is not None]
            if not verdicts:
                continue
            fallback |= any(v.latency.percentile != sla.percentile for v in verdicts)
            points = [plots.Point(v.chain, ctx.colours[v.chain], v.latency.value * 1000, v.accuracy * 100,
                                  f"{v.cell}: {v.latency.describe()}, {r.cell(v.cell).metric} {v.accuracy * 100:.2f}%"
                                  f" ({v.status})") for v in verdicts]
            front = pareto_front([Point(v.cell, v.latency.value, v.accuracy) for v in verdicts])
            base = next((v.accuracy_drop.baseline_accuracy for v in verdicts if v.accuracy_drop), None)
            floor = None if base is None else base * 100 - sla.max_accuracy_drop
            charts.append(plots.scatter_chart(f"{subject} on {placement}", points,
                                              [(p.latency_s * 1000, p.accuracy * 100) for p in front],
                                              f"p{sla.percentile} latency (ms)", f"{r.cell(verdicts[0].cell).metric} (%)",
                                              sla.max_latency_ms, floor))
        if charts:
            blocks.append(f"<h3>{escape(placement)}</h3>" + figures(charts))
    if not blocks:
        blocks.append(note("No cell has both an accuracy and latencies."))
    body = how_to_read("each dot is a chain; up and left is better. The dashed step line is the Pareto front (no "
                       "other chain is both faster and more accurate); the green area meets the SLA "
                       "(latency under the budget, accuracy within the allowed drop from the subject's identity "
                       "cell).") + "".join(blocks)
    if fallback:
        body += note(f"Cells with too few samples for p{sla.percentile} are placed at the highest percentile their "
                     "sample supports (the dot's tooltip names it).")
    return section("accuracy", "3. Accuracy against latency", body)


def breakdown(ctx: ReportContext) -> str:
    r = ctx.results
    charts = []
    for subject in r.subjects:
        rows = []
        for placement in r.placements:
            cells = [c for c in r.cells if c.subject == subject and c.placement == placement and c.breakdown_s
                     and len(c.latency_s)]
            for c in sorted(cells, key=lambda c: plots.chain_order_key(c.chain, r)):
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


def speedup_charts(results: ResultSet, analyses: Analyses, colours: dict[str, str], label: str) -> list[str]:
    summaries = ordered_speedups(results, analyses)
    several = len(results.runtimes) > 1  # each chain once per runtime: the runtime joins its label
    charts = []
    for placement in results.placements:
        ranges = []
        for s in summaries:
            if s.placement != placement:
                continue
            label = f"{s.chain} / {s.runtime or DEFAULT_RUNTIME}" if several else s.chain
            ranges.append(plots.Range(label, colours.get(s.chain, "#777"), s.minimum, s.mean, s.maximum,
                                      f"{label} on {placement}: min {s.minimum:.2f}×, mean {s.mean:.2f}×, "
                                      f"max {s.maximum:.2f}× over {len(s.subjects)} subjects"))
        if ranges:
            charts.append(plots.range_chart(f"{label}: speed-up over identity on {placement}", ranges,
                                            "ratio of median latencies, identity / chain"))
    return charts


def speedups(ctx: ReportContext) -> str:
    charts = speedup_charts(ctx.results, ctx.analyses, ctx.colours, ctx.results.study.get("name", "this study"))
    body = (how_to_read("right of the dashed 1× line the chain is faster than identity on the same placement "
                        "(a split placement against identity on its first tier, where the client sends); the bar "
                        "spans the subjects' min to max, the dot is their mean.")
            + (figures(charts) if charts else note("No chain has an identity cell to compare with."))
            + table(*speedup_rows(ctx.results, ctx.analyses), caption="Speed-up over identity")
            + _little_to_gain(ctx))
    return section("speedups", "5. Speed-ups", body)


LITTLE = 1.25  # a speed-up under this is explained beside it (section 4b has every cell's)


def _little_to_gain(ctx: ReportContext) -> str:
    """Why the operators that gained little did: what share of the latency they can act on (analysis/why.py)."""
    slow = [w for w in why(ctx.results) if w.speedup < LITTLE]
    if not slow:
        return ""
    return ("<h3>Why some operators gain little</h3><ul>"
            + "".join(f"<li>{escape(w.text())}</li>" for w in sorted(slow, key=lambda w: w.bound)) + "</ul>")


def significance(ctx: ReportContext) -> str:
    blocks = []
    for subject in ctx.results.subjects:
        comps = [c for c in ctx.analyses.comparisons if ctx.results.cell(c.cells[0]).subject == subject]
        charts = [_heatmap(c, ctx) for c in comps]
        if charts:
            blocks.append(f"<h3>{escape(subject)}</h3>" + figures(charts))
    body = how_to_read("each square compares the row with the column by Cliff's delta over their latencies: "
                       "blue = the row is faster, red = slower; the label gives the magnitude (negligible < 0.147 "
                       "≤ small < 0.33 ≤ medium < 0.474 ≤ large) and stars for the Conover p after Kruskal-Wallis, "
                       f"{ctx.analyses.p_adjust}-adjusted (* < 0.05, ** < 0.01, *** < 0.001); a pair counts as "
                       "different only when Kruskal-Wallis (under the title) is significant too.")
    return section("significance", "6. Significance", body + ("".join(blocks) or note("Nothing to compare.")))


def _label(comp: Comparison, ctx: ReportContext) -> dict[str, str]:
    """Cell name -> the factor that varies in the comparison (chain, placement, or both)."""
    cells = [ctx.results.cell(n) for n in comp.cells]
    if len({c.placement for c in cells}) == 1:
        return {c.name: c.chain for c in cells}
    if len({c.chain for c in cells}) == 1:
        return {c.name: c.placement for c in cells}
    return {c.name: f"{c.chain}@{c.placement}" for c in cells}


def _heatmap(comp: Comparison, ctx: ReportContext) -> str:
    label = _label(comp, ctx)
    cells = {}
    for p in comp.pairs:
        cells[(label[p.a], label[p.b])] = plots.HeatCell(p.delta, p.magnitude, p.adjusted_p)
        cells[(label[p.b], label[p.a])] = plots.HeatCell(-p.delta, p.magnitude, p.adjusted_p)
    kw = comp.kruskal
    return plots.heatmap(comp.title, [label[n] for n in comp.cells], cells,
                         note=f"Kruskal-Wallis H = {kw.h:,.1f}, p = {fmt(kw.p, 2) if kw.p >= 1e-4 else f'{kw.p:.1e}'}")


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
            rows.append([c.name, c.status, (c.artifact or {}).get("size_bytes"), " · ".join(notes), warnings])
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
