"""Report sections for a study's swept dimensions: operator settings and network conditions.

Each section is empty when the study sweeps nothing, so a study without sweeps reports as before.
"""

from __future__ import annotations

from html import escape

from edgewise.analysis.settings import setting_sweeps
from edgewise.report.htmlparts import figures, how_to_read, section
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
