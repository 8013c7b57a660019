"""Rich renderings of comparisons and of the default analyses with their findings (a recommendation renders
itself: recommend.py)."""

from __future__ import annotations

import json
import math

from rich.console import Group
from rich.table import Table

from edgewise.analysis.analyses import Analyses
from edgewise.analysis.compare import Comparison
from edgewise.analysis.findings import Finding
from edgewise.analysis.footprint import PartFootprint
from edgewise.analysis.profiles import ProfileView


def _p(p: float) -> str:
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}"


def render_comparison(comp: Comparison) -> Table:
    table = Table(title=f"{comp.title}  [dim]({comp.id}; Kruskal-Wallis H={comp.kruskal.h:.1f}, "
                        f"p={_p(comp.kruskal.p)}; p-adjust {comp.p_adjust})[/dim]", title_justify="left")
    for col in ("a", "b", "median a (ms)", "median b (ms)", "ratio a/b [95% CI]", "p", "p adj", "Cliff's d",
                "verdict"):
        table.add_column(col, overflow="fold")
    for p in comp.pairs:
        table.add_row(p.a, p.b, f"{p.median_a_s * 1e3:.4g}", f"{p.median_b_s * 1e3:.4g}",
                      f"{p.ratio:.3f} [{p.ratio_ci.low:.3f}, {p.ratio_ci.high:.3f}]", _p(p.conover_p),
                      _p(p.adjusted_p), f"{p.delta:+.3f} {p.magnitude}", p.verdict)
    return table


def render_analyses(analyses: Analyses, findings: list[Finding]) -> Group:
    found = Table(title="Findings", title_justify="left", show_header=False)
    found.add_column("finding")
    for f in findings:
        found.add_row(f.text)
    speed = Table(title="Speed-up over identity (ratio of medians)", title_justify="left")
    for col in ("placement", "chain", "min", "mean", "max", "subjects"):
        speed.add_column(col)
    for s in analyses.speedup_summaries:
        speed.add_row(s.placement, s.chain, f"{s.minimum:.2f}x", f"{s.mean:.2f}x", f"{s.maximum:.2f}x",
                      str(len(s.subjects)))
    acc = Table(title="Accuracy drop against identity (points)", title_justify="left")
    for col in ("cell", "metric", "drop", "95% CI", "McNemar mid-p"):
        acc.add_column(col)
    for d in analyses.accuracy_drops:
        ci = f"[{d.paired.ci_points.low:.2f}, {d.paired.ci_points.high:.2f}]" if d.paired else "-"
        acc.add_row(d.cell, d.metric, f"{d.drop_points:.2f}", ci, _p(d.paired.p_mid) if d.paired else "-")
    return Group(found, speed, acc, *(render_comparison(c) for c in analyses.comparisons))


def render_profile(view: ProfileView, tiers: list[str], parts: list[PartFootprint], judged: list[str]) -> Group:
    """A cell's model time by op type, int8 against fp32 per operator family, its costliest nodes and its
    footprint per tier (`judged`: the footprint's verdicts against the SLA, one line each)."""
    profile = view.profile
    runs = " + ".join(f"{p.run_ms:.3f}" for p in profile.parts)
    types = Table(title=f"{view.cell}: where the model's time goes on {'-'.join(tiers)} ({runs} ms a run: the "
                        f"host's profile over {profile.runs} runs / the tier's speed)", title_justify="left")
    for col in ("op type", "ms", "share"):
        types.add_column(col)
    for op, ms, share in view.top_types(12):
        types.add_row(op, f"{ms:.4f}", f"{share:.0%}")
    tables: list = [types]
    if view.families:
        versus = Table(title=f"fp32 ({view.baseline_cell}) against int8, per operator", title_justify="left")
        for col in ("operator", "fp32 ms", "int8 ms", "fp32 / int8", "int8 kernels"):
            versus.add_column(col)
        for f in view.families:
            versus.add_row(f.family, f"{f.fp32_ms:.4f}", f"{f.int8_ms:.4f}",
                           "-" if f.ratio is None else f"{f.ratio:.2f}x", ", ".join(f.kernels) or "-")
        tables.append(versus)
    nodes = Table(title="The costliest nodes (as ONNX Runtime ran them, after its fusions)", title_justify="left")
    for col in ("part", "node", "kernel", "ms"):
        nodes.add_column(col, overflow="fold")
    for part, node in view.costliest_nodes(10):
        nodes.add_row(tiers[min(part, len(tiers) - 1)], node.name, node.op_type, f"{node.ms:.4f}")
    tables.append(nodes)
    size = Table(title="Footprint per tier", title_justify="left")
    for col in ("tier", "model MB", "peak serving memory MB"):
        size.add_column(col)
    for p in parts:
        size.add_row(p.tier, "-" if p.model_mb is None else f"{p.model_mb:,.2f}",
                     "-" if p.peak_memory_mb is None else f"{p.peak_memory_mb:,.1f}")
    tables.append(size)
    if judged:
        verdict = Table(show_header=False, title="Against the SLA", title_justify="left")
        verdict.add_column("verdict")
        for line in judged:
            verdict.add_row(line)
        tables.append(verdict)
    return Group(*tables)


def _finite(value):
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def to_json(data: dict) -> str:
    return json.dumps(_finite(data), indent=1)
