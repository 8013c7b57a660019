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
