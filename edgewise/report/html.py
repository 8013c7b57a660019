"""write_report: the self-contained HTML page (inline SVG, CSS and a few lines of JS) and summary.md."""

from __future__ import annotations

from html import escape
from importlib import metadata
from importlib.resources import files
from pathlib import Path
from string import Template

from edgewise.analysis.results import ResultSet
from edgewise.report import sections
from edgewise.report.comparison import against_reference
from edgewise.report.markdown import summary_markdown
from edgewise.report.plots import chain_colours, chain_order_key
from edgewise.report.source import load_results
from edgewise.report.tables import ReportContext, Sla

_SECTIONS = (("summary", "Summary"), ("latency", "Latency"), ("accuracy", "Accuracy vs latency"),
             ("breakdown", "Where the time goes"), ("speedups", "Speed-ups"), ("significance", "Significance"),
             ("reference", "Against the reference"), ("operators", "Operator notes"))


def write_report(results_source: str | Path | ResultSet, out: str | Path,
                 reference: list[str | Path] | None = None) -> Path:
    """Write DIR/report.html and DIR/summary.md (or FILE.html and summary.md beside it); return the HTML path.

    `reference`: published latency CSVs (e.g. the reference study's) to set this study beside."""
    results = load_results(results_source)
    out = Path(out)
    html_path = out if out.suffix.lower() in (".html", ".htm") else out / "report.html"
    html_path.parent.mkdir(parents=True, exist_ok=True)
    ctx = build_context(results, [load_results(p) for p in reference or []])
    html_path.write_text(render_html(ctx, str(results_source) if not isinstance(results_source, ResultSet) else
                                     results.study.get("source", "memory")), encoding="utf-8")
    (html_path.parent / "summary.md").write_text(summary_markdown(ctx), encoding="utf-8")
    return html_path


def build_context(results: ResultSet, reference: list[ResultSet]) -> ReportContext:
    chains = {c.chain for r in (results, *reference) for c in r.cells}
    return ReportContext(results, Sla.of(results), chain_colours(sorted(chains, key=chain_order_key)),
                         sections.findings(results), reference)


def render_html(ctx: ReportContext, source: str) -> str:
    body = [sections.summary(ctx), sections.latency(ctx), sections.accuracy_vs_latency(ctx), sections.breakdown(ctx),
            sections.speedups(ctx), sections.significance(ctx), against_reference(ctx), sections.operator_notes(ctx)]
    study = ctx.results.study
    used = [c for c in ctx.colours if c in set(ctx.results.chains)]
    legend = "Chains: " + "".join(f'<span><i style="background:{ctx.colours[c]}"></i>{escape(c)}</span>' for c in used)
    subtitle = (f"{len(ctx.results.cells)} cells · {len(ctx.results.subjects)} subjects · profile "
                f"{study.get('profile', '–')} · testbed {(study.get('testbed') or {}).get('kind', '–')}")
    static = files("edgewise.report")
    return Template((static / "templates" / "report.html").read_text(encoding="utf-8")).substitute(
        title=escape(f"edgewise report: {study.get('name', 'study')}"), subtitle=escape(subtitle),
        nav="".join(f'<a href="#{a}">{escape(t)}</a>' for a, t in _SECTIONS), legend=legend,
        sections="\n".join(body), css=(static / "static" / "report.css").read_text(encoding="utf-8"),
        js=(static / "static" / "report.js").read_text(encoding="utf-8"), version=_version(), source=escape(source))


def _version() -> str:
    try:
        return metadata.version("edgewise")
    except metadata.PackageNotFoundError:
        return "dev"
