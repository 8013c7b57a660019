"""The terminal's view of the analyses (rich tables): comparisons, the default analyses with their findings,
a cell's profile and a recommendation. Every value a user named (a cell, a chain's settings) goes in as
plain text (commands/plain.py): rich would read its brackets as markup."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from edgewise.analysis.analyses import Analyses
from edgewise.analysis.compare import Comparison
from edgewise.analysis.findings import Finding
from edgewise.analysis.footprint import PartFootprint
from edgewise.analysis.profiles import ProfileView
from edgewise.analysis.recommend import CellVerdict, Recommendation
from edgewise.commands.plain import add_row


def _p(p: float) -> str:
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}"


def render_comparison(comp: Comparison) -> Table:
    table = Table(title=Text(f"{comp.title}  ({comp.id}; Kruskal-Wallis H={comp.kruskal.h:.1f}, "
                             f"p={_p(comp.kruskal.p)}; p-adjust {comp.p_adjust})"), title_justify="left")
    for col in ("a", "b", "median a (ms)", "median b (ms)", "ratio a/b [95% CI]", "p", "p adj", "Cliff's d",
                "verdict"):
        table.add_column(col, overflow="fold")
    for p in comp.pairs:
        add_row(table, p.a, p.b, f"{p.median_a_s * 1e3:.4g}", f"{p.median_b_s * 1e3:.4g}",
                      f"{p.ratio:.3f} [{p.ratio_ci.low:.3f}, {p.ratio_ci.high:.3f}]", _p(p.conover_p),
                      _p(p.adjusted_p), f"{p.delta:+.3f} {p.magnitude}", p.verdict)
    return table


def render_analyses(analyses: Analyses, findings: list[Finding]) -> Group:
    found = Table(title="Findings", title_justify="left", show_header=False)
    found.add_column("finding")
    for f in findings:
        add_row(found, f.text)
    speed = Table(title="Speed-up over identity (ratio of medians)", title_justify="left")
    for col in ("placement", "chain", "min", "mean", "max", "subjects"):
        speed.add_column(col)
    for s in analyses.speedup_summaries:
        add_row(speed, s.placement, s.chain, f"{s.minimum:.2f}x", f"{s.mean:.2f}x", f"{s.maximum:.2f}x",
                      str(len(s.subjects)))
    acc = Table(title="Accuracy drop against identity (points)", title_justify="left")
    for col in ("cell", "metric", "drop", "95% CI", "McNemar mid-p"):
        acc.add_column(col)
    for d in analyses.accuracy_drops:
        ci = f"[{d.paired.ci_points.low:.2f}, {d.paired.ci_points.high:.2f}]" if d.paired else "-"
        add_row(acc, d.cell, d.metric, f"{d.drop_points:.2f}", ci, _p(d.paired.p_mid) if d.paired else "-")
    return Group(found, speed, acc, *(render_comparison(c) for c in analyses.comparisons))


def render_profile(view: ProfileView, tiers: list[str], parts: list[PartFootprint], judged: list[str]) -> Group:
    """A cell's model time by op type, int8 against fp32 per operator family, its costliest nodes and its
    footprint per tier (`judged`: the footprint's verdicts against the SLA, one line each)."""
    profile = view.profile
    runs = " + ".join(f"{p.run_ms:.3f}" for p in profile.parts)
    types = Table(title=Text(f"{view.cell}: where the model's time goes on {'-'.join(tiers)} ({runs} ms a run: the "
                             f"host's profile over {profile.runs} runs / the tier's speed)"), title_justify="left")
    for col in ("op type", "ms", "share"):
        types.add_column(col)
    for op, ms, share in view.top_types(12):
        add_row(types, op, f"{ms:.4f}", f"{share:.0%}")
    tables: list = [types]
    if view.families:
        versus = Table(title=Text(f"fp32 ({view.baseline_cell}) against int8, per operator"), title_justify="left")
        for col in ("operator", "fp32 ms", "int8 ms", "fp32 / int8", "int8 kernels"):
            versus.add_column(col)
        for f in view.families:
            add_row(versus, f.family, f"{f.fp32_ms:.4f}", f"{f.int8_ms:.4f}",
                           "-" if f.ratio is None else f"{f.ratio:.2f}x", ", ".join(f.kernels) or "-")
        tables.append(versus)
    nodes = Table(title="The costliest nodes (as ONNX Runtime ran them, after its fusions)", title_justify="left")
    for col in ("part", "node", "kernel", "ms"):
        nodes.add_column(col, overflow="fold")
    for part, node in view.costliest_nodes(10):
        add_row(nodes, tiers[min(part, len(tiers) - 1)], node.name, node.op_type, f"{node.ms:.4f}")
    tables.append(nodes)
    size = Table(title="Footprint per tier", title_justify="left")
    for col in ("tier", "model MB", "peak serving memory MB"):
        size.add_column(col)
    for p in parts:
        add_row(size, p.tier, "-" if p.model_mb is None else f"{p.model_mb:,.2f}",
                     "-" if p.peak_memory_mb is None else f"{p.peak_memory_mb:,.1f}")
    tables.append(size)
    if judged:
        verdict = Table(show_header=False, title="Against the SLA", title_justify="left")
        verdict.add_column("verdict")
        for line in judged:
            add_row(verdict, line)
        tables.append(verdict)
    return Group(*tables)


_STATUS_STYLE = {"meets": "green", "borderline": "yellow", "fails": "red"}


def render_recommendation(rec: Recommendation) -> Group:
    tables = []
    for subject in rec.subjects:
        best = rec.best(subject)
        sizes = "".join([f", model <= {rec.max_model_mb:g} MB" if rec.max_model_mb is not None else "",
                         f", memory <= {rec.max_memory_mb:g} MB" if rec.max_memory_mb is not None else ""])
        title = Text(f"{subject}: p{rec.percentile} <= {rec.max_latency_ms:g} ms, accuracy drop <= "
                     f"{rec.max_accuracy_drop:g} points{sizes} -> ")
        title.append(f"{best.cell} served by {best.runtime}" if best else "none",
                     style="bold green" if best else "red")
        table = Table(title=title, title_justify="left")
        for col in ("cell", "status", "latency", "accuracy drop", "model / memory MB", "pareto", "why / notes"):
            table.add_column(col, overflow="fold")
        for v in rec.ranked(subject):
            drop = f"{v.accuracy_drop.drop_points:.2f}" if v.accuracy_drop else ("0" if v.chain == "identity" else "?")
            flags = list(v.reasons) + list(v.notes)
            if v.no_significant_speedup:
                flags.append("no significant speed-up over identity here")
            add_row(table, v.cell, Text(v.status, style=_STATUS_STYLE[v.status]),
                          v.latency.describe() if v.latency else "-", drop, footprint_text(v),
                          "*" if v.on_pareto_front else "", "; ".join(flags))
        tables.append(table)
    return Group(*tables)


def footprint_text(v: CellVerdict) -> str:
    """'12.3 / 145' (the largest part's model and peak serving memory, MB), '-' where unknown."""
    return " / ".join("-" if x is None else f"{x:,.1f}" for x in (v.model_mb, v.memory_mb))
