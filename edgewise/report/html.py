"""write_report: the self-contained HTML page (inline SVG, CSS and a few lines of JS) and summary.md."""

from __future__ import annotations

from html import escape
from importlib import metadata
from importlib.resources import files
from pathlib import Path
from string import Template

from edgewise.analysis import ResultSet, default_analyses, load_results
from edgewise.report import dimensions, sections
from edgewise.report.comparison import against_reference
from edgewise.report.drift import drift
from edgewise.report.markdown import summary_markdown
from edgewise.report.plots import chain_colours, chain_order_key
from edgewise.report.source import analyse, default_reference, relevant_part
from edgewise.report.tables import Reference, ReportContext
from edgewise.sla import Sla

_SECTIONS = (("summary", "Summary"), ("drift", "The host"), ("latency", "Latency"), ("accuracy", "Accuracy vs latency"),
             ("breakdown", "Where the time goes"), ("speedups", "Speed-ups"), ("significance", "Significance"),
             ("reference", "Against the reference"), ("operators", "Operator notes"))


def write_report(results_source: str | Path | ResultSet, out: str | Path,
                 reference: list[str | Path] | None = None, sla: Sla | None = None,
                 condition: str | None = None) -> Path:
    """Write DIR/report.html and DIR/summary.md (or FILE.html and summary.md beside it); return the HTML path.

    `reference`: published latency CSVs to set this study beside; None = the reference study's files packaged
    with edgewise (white-box and/or black-box, after the study's chains). `sla`: None = the study's own.
    `condition`: in a study with network conditions, the one the per-cell sections show (None: the first)."""
    everything = load_results(results_source)
    results = dimensions.one_condition(everything, condition)
    out = Path(out)
    html_path = out if out.suffix.lower() in (".html", ".htm") else out / "report.html"
    html_path.parent.mkdir(parents=True, exist_ok=True)
    ctx = build_context(results, default_reference(results) if reference is None else reference,
                        sla or Sla.of(results.study))
    ctx.across = dimensions.across(everything)
    if ctx.across is not None:
        ctx.findings[:0] = ctx.across.findings()
    html_path.write_text(render_html(ctx, str(results_source) if not isinstance(results_source, ResultSet) else
                                     results.study.get("source", "memory")), encoding="utf-8")
    (html_path.parent / "summary.md").write_text(summary_markdown(ctx), encoding="utf-8")
    return html_path


def build_context(results: ResultSet, reference: list[str | Path], sla: Sla) -> ReportContext:
    """Analyse the study once (the expensive step), and of each reference the part this study's chains and
    placements need: its speed-ups are all section 7 reads, so it gets no recommendation."""
    study = analyse(results, sla)
    refs = []
    for path in reference:
        part = relevant_part(load_results(path), results)
        if len({c.chain for c in part.cells}) > 1:
            refs.append(Reference(_reference_label(Path(path), part), part, default_analyses(part)))
    chains = {c.chain for r in (results, *(ref.results for ref in refs)) for c in r.cells}
    return ReportContext(study, sla, chain_colours(sorted(chains, key=lambda c: chain_order_key(c, results))), sections.findings(study),
                         refs)


def _reference_label(path: Path, reference: ResultSet) -> str:
    """'white-box study (arXiv 2411.00907)' for the published files, else the file's name."""
    flavour = reference.study.get("reference")
    arxiv = next((part for part in path.stem.split("-") if part[:1].isdigit() and "." in part), None)
    if flavour and arxiv:
        return f"{flavour[:5]}-box study (arXiv {arxiv})"
    return path.name


def render_html(ctx: ReportContext, source: str) -> str:
    body = [sections.summary(ctx), sections.latency(ctx), sections.accuracy_vs_latency(ctx), sections.breakdown(ctx),
            sections.speedups(ctx), sections.significance(ctx), against_reference(ctx), sections.operator_notes(ctx)]
    swept = (dimensions.runtimes(ctx), dimensions.conditions(ctx), dimensions.settings(ctx))
    body[3:3] = [part for part in swept if part]  # swept dimensions
    body[1:1] = [part for part in (drift(ctx),) if part]
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
