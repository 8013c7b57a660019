"""Report sections for a study's swept dimensions: operator settings, network conditions and runtimes.

Each section is empty when the study sweeps nothing, so a study without sweeps reports as before.
"""

from __future__ import annotations

from html import escape

from edgewise.analysis.conditions import ConditionAnalyses, condition_analyses
from edgewise.analysis.results import ResultSet
from edgewise.analysis.runtimes import fastest_runtimes
from edgewise.analysis.settings import setting_sweeps
from edgewise.errors import DataError
from edgewise.report.htmlparts import figures, how_to_read, section, table
from edgewise.report.lines import LinePoint, Series, line_chart
from edgewise.report.svg import fmt
from edgewise.report.tables import ReportContext

_PLACEMENT_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#8C564B", "#7F7F7F")


def settings(ctx: ReportContext) -> str:
    """An accuracy-latency curve per swept operator: one point per setting, along the setting's order."""
    sweeps = setting_sweeps(ctx.results)
    if not sweeps:
        return ""
    charts = []
    for i, sweep in enumerate(sweeps):
        metric = ctx.results.cell(sweep.points[0].cell).metric or "accuracy"
        points = [LinePoint(p.latency_s * 1000, (p.accuracy or 0.0) * 100, p.setting or "default",
                            f"{p.cell}: median {fmt(p.latency_s * 1000)} ms [95% CI {fmt(p.latency_ci.low * 1000)}–"
                            f"{fmt(p.latency_ci.high * 1000)}], {metric} "
                            + ("–" if p.accuracy is None else f"{p.accuracy * 100:.2f}%"))
                  for p in sweep.points if p.accuracy is not None]
        if len(points) < 2:
            continue
        charts.append(line_chart(sweep.title, [Series(f"{sweep.subject}@{sweep.placement}",
                                                      ctx.colours.get(sweep.points[0].chain, _PLACEMENT_COLOURS[i % 8]),
                                                      points)],
                                 "median latency (ms)", f"{metric} (%)"))
    if not charts:
        return ""
    body = how_to_read("one curve per operator swept over several settings (written in brackets in the chain's "
                       "name, e.g. prune[ratio=0.3]); each point is one setting, labelled with it. Up and left is "
                       "better.") + figures(charts)
    return section("settings", "Operator settings: accuracy against latency", body)


def placement_colours(placements: list[str]) -> dict[str, str]:
    return {p: _PLACEMENT_COLOURS[i % len(_PLACEMENT_COLOURS)] for i, p in enumerate(placements)}


def heading(text: str) -> str:
    return f"<h3>{escape(text)}</h3>"


def one_condition(results: ResultSet, condition: str | None) -> ResultSet:
    """The cells the per-cell sections show: a study's own, or those of one network condition (the first by default)."""
    if not results.conditions:
        if condition is not None:
            raise DataError(f"condition {condition!r}: these results were measured under one network setting",
                            "drop --condition")
        return results
    chosen = condition or results.conditions[0]
    part = results.at_condition(chosen)
    notes = list(part.study.get("notes") or [])
    notes.append(f"The per-cell sections show network condition {chosen} ({len(results.conditions)} were measured: "
                 f"{', '.join(results.conditions)}); the section on network conditions compares them all. "
                 "edgewise report --condition NAME shows another.")
    part.study["notes"] = notes
    return part


def across(results: ResultSet) -> ConditionAnalyses | None:
    return condition_analyses(results) if results.conditions else None


def conditions(ctx: ReportContext) -> str:
    """Latency against bandwidth per subject (log axes, a line per cell, 95% CI bands), the crossovers, the tests."""
    found = ctx.across
    if found is None:
        return ""
    parts = [how_to_read("each line is one cell (chain@placement) measured at every bandwidth of the swept link, "
                         "everything else held fixed; the band is the 95% bootstrap CI of the median. Where two "
                         "lines cross, the faster placement changes.")]
    clear = [c for c in found.crossovers if c.supported]
    ties = [c for c in found.crossovers if not c.supported]
    if clear:
        parts.append(heading("Crossovers") + "<ul>" + "".join(f"<li>{escape(c.text)}</li>" for c in clear) + "</ul>")
    if ties:
        parts.append(f"<details><summary>{len(ties)} crossing(s) within the noise</summary><ul>"
                     + "".join(f"<li>{escape(c.text)}</li>" for c in ties) + "</ul></details>")
    charts = []
    for subject in dict.fromkeys(c.subject for c in found.curves):
        for link, fixed in dict.fromkeys((c.link, c.fixed) for c in found.curves if c.subject == subject):
            curves = [c for c in found.curves if c.subject == subject and (c.link, c.fixed) == (link, fixed)]
            colours = placement_colours([c.cell for c in curves])
            series = [Series(c.cell, colours[c.cell],
                             [LinePoint(p.bandwidth_mbit, p.median_s * 1000,
                                        tip=f"{subject}:{c.cell}~{p.condition}: median {fmt(p.median_s * 1000)} ms "
                                            f"[95% CI {fmt(p.ci.low * 1000)}–{fmt(p.ci.high * 1000)}]",
                                        band=(p.ci.low * 1000, p.ci.high * 1000)) for p in c.points])
                      for c in curves]
            title = f"{subject}: latency against {link} bandwidth" + (f" ({fixed})" if fixed else "")
            charts.append(line_chart(title, series, f"{link} bandwidth (Mbit/s)", "median latency (ms)",
                                     log_x=True, log_y=True))
    parts.append(figures(charts))
    rows = [[a.cell, "yes" if a.crosses else "no (control)", len(a.conditions), fmt(min(a.medians_s) * 1000),
             fmt(max(a.medians_s) * 1000), f"{a.spread:.1%}", a.h, a.adjusted_p if a.adjusted_p is not None else a.p,
             sum(p < 0.05 for _, _, p in a.pairs), len(a.pairs)] for a in found.across]
    parts.append(table(["cell", "crosses a changed link", "conditions", "fastest median (ms)", "slowest median (ms)",
                        "spread", "Kruskal-Wallis H", "p (Holm over cells)", "Conover pairs p<0.05 (Holm)", "pairs"],
                       rows, caption="Does a cell's latency depend on the network condition? A cell that crosses no "
                                     "changed link is a control: the network cannot move it, the host's drift can."))
    return section("conditions", "Network conditions", "".join(parts))


def runtime_rows(results: ResultSet) -> tuple[list[str], list[list[object]]]:
    """Per subject and tier, each runtime's fastest cell with its accuracy, the fastest runtime first."""
    rows: list[list[object]] = []
    for found in fastest_runtimes(results):
        for i, b in enumerate(found.best):
            rows.append([found.subject, found.placement, b.runtime + (" (fastest)" if i == 0 else ""), b.chain,
                         fmt(b.median_ms), "–" if b.accuracy is None else f"{b.accuracy * 100:.2f}"])
    return ["subject", "tier", "runtime", "its fastest chain", "median (ms)", "accuracy (%)"], rows


def runtimes(ctx: ReportContext) -> str:
    """Which runtime serves each subject fastest on each tier, with its accuracy, and the tests between runtimes."""
    found = fastest_runtimes(ctx.results)
    if not found:
        return ""
    parts = [how_to_read("each subject and tier served by several runtimes: every runtime's fastest chain there (its "
                         "median latency and the accuracy it scored as that runtime serves it; a bf16 or int8 runtime "
                         "changes predictions), the fastest first. Whether runtimes differ on the same chain is tested "
                         "with Kruskal-Wallis and Conover in the significance section."),
             "<ul>" + "".join(f"<li>{escape(f.text())}</li>" for f in found) + "</ul>",
             table(*runtime_rows(ctx.results), caption="The fastest runtime per subject and tier")]
    return section("runtimes", "Runtimes", "".join(parts))
