"""summary.md: the recommendation, findings and main tables in Markdown, for a pull request."""

from __future__ import annotations

from edgewise.report.dimensions import runtime_rows
from edgewise.report.htmlparts import cell_value
from edgewise.report.profiles import top_type_rows
from edgewise.report.tables import (
    ReportContext,
    failed_rows,
    latency_rows,
    measured_rows,
    recommendation_rows,
    speedup_rows,
    verdict_rows,
)


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(cell_value(v)[0].replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def summary_markdown(ctx: ReportContext) -> str:
    name = ctx.results.study.get("name", "study")
    parts = [f"# edgewise: {name}", "", f"SLA: {ctx.sla.describe()}.", "",
             f"Judged: {ctx.study.recommendation.judged_on()}.", "", "## Recommendation",
             markdown_table(*recommendation_rows(ctx)), "", "<details><summary>Every cell against the SLA</summary>",
             "", markdown_table(*verdict_rows(ctx)), "", "</details>", "", "## Top findings",
             *[f"- {f}" for f in ctx.findings], "", "## What was measured", markdown_table(*measured_rows(ctx)), "",
             "## Speed-up over identity (ratio of medians)", markdown_table(*speedup_rows(ctx.results, ctx.analyses)), "",
             "## Latency per cell", markdown_table(*latency_rows(ctx)), ""]
    runtimes = runtime_rows(ctx.results)
    if runtimes[1]:
        parts += ["## The fastest runtime per subject and tier", markdown_table(*runtimes), ""]
    parts += ["<details><summary>Where each cell's model time goes (per operator) and its footprint</summary>", "",
              markdown_table(*top_type_rows(ctx)), "", "</details>", ""]
    failed = failed_rows(ctx)
    if failed[1]:
        parts += ["## Cells not measured", markdown_table(*failed), ""]
    notes = ctx.results.study.get("notes") or []
    if notes:
        parts += ["## Notes", *[f"- {n}" for n in notes], ""]
    return "\n".join(parts)
