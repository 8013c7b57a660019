"""Analyses across a study's network conditions: does a cell's latency depend on the condition, how
does it scale with a link's bandwidth, and where does one placement stop winning over another.

The crossover of two cells along a swept bandwidth is found from the measured medians: between
two neighbouring bandwidths of the grid where the sign of the median difference flips. Its point
estimate interpolates the difference on log bandwidth, so it always lies in that grid interval;
the statement says whether the 95% bootstrap intervals of the difference exclude zero on both
sides (a crossover the data supports) or not (a tie within the noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from edgewise.analysis.bootstrap import Interval, interval, median_rows, replicates, seed_for
from edgewise.analysis.results import CellResult, ResultSet
from edgewise.analysis.stats import adjust_p, conover, kruskal
from edgewise.planning.conditions import Condition
from edgewise.tiers.spec import Placement, direct_links, route_for
from edgewise.vocabulary import OK


# Medians within this of each other across the conditions are within what the emulation resolves: its
# speeds and links are verified to a few percent, and what other cells' long waits leave on the host moved
# cells that never cross the swept link by 1-3 % (docs/emulation.md). Such a cell may be significant; it
# is not called different.
RESOLUTION = 0.05


@dataclass(frozen=True)
class AcrossConditions:
    """One cell's latency under every condition: Kruskal-Wallis (its p Holm-adjusted over the cells of its
    kind), then Conover pairs (Holm-adjusted), over the medians of the turns the conditions took (_turn_medians).

    A cell whose requests never cross a link the conditions change is a control: the network cannot move
    it, so a difference there is the host's drift, not the network's doing, and is said so."""

    cell: str  # the cell's name without a condition
    conditions: tuple[str, ...]
    medians_s: tuple[float, ...]
    h: float
    p: float
    pairs: tuple[tuple[str, str, float], ...]  # (condition a, condition b, adjusted p)
    crosses: bool = True  # its route crosses a link some condition changes
    adjusted_p: float | None = None  # p, Holm-adjusted over the cells that cross (or over the controls)
    by_turn: bool = False  # tested on its turns' medians (else on its samples)

    @property
    def spread(self) -> float:
        """Slowest median over fastest, less one: how far apart the conditions' medians lie."""
        return max(self.medians_s) / min(self.medians_s) - 1 if min(self.medians_s) > 0 else math.inf

    @property
    def significant(self) -> bool:
        return (self.adjusted_p if self.adjusted_p is not None else self.p) < 0.05

    @property
    def differs(self) -> bool:
        """Significant, and its medians further apart than the emulation resolves (RESOLUTION)."""
        return self.significant and self.spread > RESOLUTION

    def to_dict(self) -> dict[str, Any]:
        return {"cell": self.cell, "conditions": list(self.conditions), "medians_s": list(self.medians_s),
                "kruskal": {"h": self.h, "p": self.p, "adjusted_p": self.adjusted_p, "over": "turns" if self.by_turn
                            else "samples"}, "crosses": self.crosses, "spread": self.spread,
                "significant": self.significant, "differs": self.differs,
                "pairs": [{"a": a, "b": b, "adjusted_p": p} for a, b, p in self.pairs]}


@dataclass(frozen=True)
class CurvePoint:
    bandwidth_mbit: float
    condition: str
    median_s: float
    ci: Interval


@dataclass(frozen=True)
class Curve:
    """Latency against one link's bandwidth for one cell, the rest of the condition held fixed."""

    subject: str
    cell: str  # CHAIN@PLACEMENT label
    link: str
    fixed: str  # what else the conditions set (e.g. "edge-cloud 25ms"), "" when nothing
    points: tuple[CurvePoint, ...]


@dataclass(frozen=True)
class Crossover:
    subject: str
    link: str
    fixed: str
    low_winner: str  # faster below the crossover
    high_winner: str
    interval_mbit: tuple[float, float]  # the grid interval where the medians cross
    estimate_mbit: float
    supported: bool  # the difference's CI excludes zero at both ends of the interval

    @property
    def text(self) -> str:
        lo, hi = self.interval_mbit
        where = f" (with {self.fixed})" if self.fixed else ""
        low, high = _phrase(self.low_winner), _phrase(self.high_winner)
        strength = ("the medians differ beyond their 95% CIs on both sides" if self.supported
                    else "within the noise on at least one side")
        return (f"below ~{_mbit(self.estimate_mbit)} Mbit/s on {self.link}{where} keep {self.subject} on {low}; "
                f"above, {high} is faster (crossover between {_mbit(lo)} and {_mbit(hi)} Mbit/s of the grid; "
                f"{strength})")

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "link": self.link, "fixed": self.fixed, "low_winner": self.low_winner,
                "high_winner": self.high_winner, "interval_mbit": list(self.interval_mbit),
                "estimate_mbit": self.estimate_mbit, "supported": self.supported, "text": self.text}


@dataclass
class ConditionAnalyses:
    conditions: list[str]
    across: list[AcrossConditions] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    crossovers: list[Crossover] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"conditions": self.conditions, "across": [a.to_dict() for a in self.across],
                "curves": [{"subject": c.subject, "cell": c.cell, "link": c.link, "fixed": c.fixed,
                            "points": [{"bandwidth_mbit": p.bandwidth_mbit, "condition": p.condition,
                                        "median_s": p.median_s, "ci": [p.ci.low, p.ci.high]} for p in c.points]}
                           for c in self.curves],
                "crossovers": [c.to_dict() for c in self.crossovers]}

    def findings(self) -> list[str]:
        """Crossovers the data supports, one sentence each; crossings within the noise are only counted."""
        out = [c.text[0].upper() + c.text[1:] + "." for c in self.crossovers if c.supported]
        ties = [c for c in self.crossovers if not c.supported]
        if ties:
            out.append(f"{len(ties)} further crossing(s) of medians along the bandwidth are within the noise "
                       "(the 95% CI of the difference includes zero on one side).")
        crossing = [a for a in self.across if a.crosses]
        if crossing:
            depends = [a for a in crossing if a.differs]
            out.append(f"{len(depends)} of {len(crossing)} cells whose requests cross the changed links differ "
                       f"across the {len(self.conditions)} network conditions (Kruskal-Wallis, Holm-adjusted "
                       f"p < 0.05, medians more than {RESOLUTION:.0%} apart).")
        controls = [a for a in self.across if not a.crosses]
        if controls:
            widest = max(controls, key=lambda a: a.spread)
            drifted = [a for a in controls if a.differs]
            close = [a for a in controls if a.significant and not a.differs]
            verdict = ("none differs (Kruskal-Wallis, Holm-adjusted p >= 0.05, or medians within "
                       f"{RESOLUTION:.0%}): the host held its speed across the conditions" if not drifted else
                       f"{len(drifted)} differ (Kruskal-Wallis, Holm-adjusted p < 0.05, medians more than "
                       f"{RESOLUTION:.0%} apart): the host drifted, so part of the other cells' differences may be "
                       "the host's, not the network's")
            if close:
                verdict += (f"; {len(close)} significant within {RESOLUTION:.0%} (what the emulation resolves): "
                            + ", ".join(a.cell for a in close))
            out.append(f"{len(controls)} cells never cross the changed links (controls): their medians lie within "
                       f"{widest.spread:.1%} of each other across the conditions (widest: {widest.cell}); "
                       f"{verdict}.")
        return out


def condition_analyses(rs: ResultSet, seed: int = 0) -> ConditionAnalyses:
    """Every analysis across the conditions of a study (empty for a study without conditions)."""
    out = ConditionAnalyses(rs.conditions)
    if not out.conditions:
        return out
    parsed = {name: Condition.parse(name) for name in out.conditions}
    by_base: dict[str, dict[str, CellResult]] = {}
    for c in rs.cells:
        if c.condition and c.status == OK and len(c.latency_s) > 0:
            by_base.setdefault(f"{c.subject}:{c.chain}@{c.placement}", {})[c.condition] = c
    changed = {s.link for cond in parsed.values() for s in cond.settings}
    direct = direct_links((rs.study.get("testbed") or {}).get("links") or {})
    for base, cells in by_base.items():
        if len(cells) >= 2:
            placement = base.rsplit("@", 1)[1]
            crosses = bool(changed & {f"{a}-{b}" for a, b in route_for(Placement.parse(placement), direct).links})
            out.across.append(_across(base, cells, crosses))
    out.across = _holm_by_kind(out.across)
    for link in _swept_links(parsed):
        for fixed, group in _groups(parsed, link).items():
            curves = _curves(by_base, group, link, fixed, seed)
            out.curves += curves
            for subject in dict.fromkeys(c.subject for c in curves):
                mine = [c for c in curves if c.subject == subject]
                for i, a in enumerate(mine):
                    for b in mine[i + 1:]:
                        out.crossovers += crossovers(a, b, by_base, seed)
    return out


def _across(base: str, cells: dict[str, CellResult], crosses: bool) -> AcrossConditions:
    names = list(cells)
    samples = [np.asarray(cells[n].latency_s, dtype=float) for n in names]
    by_turn = all(g.size and cells[n].turns.size == g.size for n, g in zip(names, samples))
    groups = [_turn_medians(g, cells[n].turns) for n, g in zip(names, samples)] if by_turn else samples
    kw = kruskal(groups)
    con = conover(groups)
    idx = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    adjusted = adjust_p([float(con.p[i, j]) for i, j in idx]) if idx else []
    return AcrossConditions(base, tuple(names), tuple(float(np.median(g)) for g in samples), float(kw.h),
                            float(kw.p), tuple((names[i], names[j], float(p)) for (i, j), p in zip(idx, adjusted)),
                            crosses, by_turn=by_turn)


def _turn_medians(samples: np.ndarray, turns: np.ndarray) -> np.ndarray:
    """The median of each turn's samples. A turn's few samples share the host's moment: a second it ran
    slower moves them together, so they are one piece of evidence about their condition, not several;
    tested as independent samples they would call the host's moments a difference between conditions."""
    return np.array([float(np.median(samples[turns == t])) for t in np.unique(turns)])


def _holm_by_kind(across: list[AcrossConditions]) -> list[AcrossConditions]:
    """Each cell's Kruskal-Wallis p, Holm-adjusted over the cells of its kind (crossing, controls): a family
    of tests, as many as cells, would call some cell different by chance alone."""
    out = list(across)
    for kind in (True, False):
        idx = [i for i, a in enumerate(out) if a.crosses is kind]
        for i, p in zip(idx, adjust_p([out[i].p for i in idx])):
            out[i] = replace(out[i], adjusted_p=float(p))
    return out


def _swept_links(parsed) -> list[str]:
    links: dict[str, set[float]] = {}
    for cond in parsed.values():
        for s in cond.settings:
            if s.bandwidth_mbit is not None:
                links.setdefault(s.link, set()).add(s.bandwidth_mbit)
    return [link for link, values in links.items() if len(values) >= 2]


def _groups(parsed, link: str) -> dict[str, list[tuple[float, str]]]:
    """Conditions that differ only in `link`'s bandwidth, by what else they set: {fixed: [(bandwidth, name)]}."""
    groups: dict[str, list[tuple[float, str]]] = {}
    for name, cond in parsed.items():
        s = cond.setting(link)
        if s is None or s.bandwidth_mbit is None:
            continue
        rest = [_describe(o, own=o.link == link) for o in cond.settings]
        groups.setdefault(", ".join(r for r in rest if r), []).append((s.bandwidth_mbit, name))
    return {k: sorted(v) for k, v in groups.items() if len(v) >= 2}


def _describe(setting, own: bool) -> str:
    """What a condition fixes besides the swept bandwidth: 'delay 25 ms' on the swept link, 'LINK 100 Mbit/s,
    delay 5 ms' on another."""
    parts = ([] if own or setting.bandwidth_mbit is None else [f"{setting.bandwidth_mbit:g} Mbit/s"]) + \
            ([] if setting.delay_ms is None else [f"delay {setting.delay_ms:g} ms"])
    if not parts:
        return ""
    return ", ".join(parts) if own else f"{setting.link} " + ", ".join(parts)


def _curves(by_base, group, link: str, fixed: str, seed: int) -> list[Curve]:
    curves = []
    for base, cells in by_base.items():
        points = [CurvePoint(bw, name, float(np.median(cells[name].latency_s)),
                             interval(replicates(np.asarray(cells[name].latency_s, float), median_rows,
                                                 seed_for(base, name, seed=seed))))
                  for bw, name in group if name in cells]
        if len(points) >= 2:
            subject, label = base.split(":", 1)
            curves.append(Curve(subject, label, link, fixed, tuple(points)))
    return curves


def crossovers(a: Curve, b: Curve, by_base=None, seed: int = 0) -> list[Crossover]:
    """Where the faster of two curves changes along the bandwidth (both measured at the same bandwidths)."""
    pa = {p.bandwidth_mbit: p for p in a.points}
    pb = {p.bandwidth_mbit: p for p in b.points}
    grid = sorted(set(pa) & set(pb))
    diffs = [pa[bw].median_s - pb[bw].median_s for bw in grid]
    out = []
    for i in range(len(grid) - 1):
        d0, d1 = diffs[i], diffs[i + 1]
        if d0 == 0 or d1 == 0 or (d0 > 0) == (d1 > 0):
            continue
        lo, hi = grid[i], grid[i + 1]
        t = d0 / (d0 - d1)
        estimate = math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo)))
        supported = all(_difference_excludes_zero(a, b, pa[bw].condition, by_base, seed) for bw in (lo, hi))
        low_winner, high_winner = (a.cell, b.cell) if d0 < 0 else (b.cell, a.cell)
        out.append(Crossover(a.subject, a.link, a.fixed, low_winner, high_winner, (lo, hi), estimate, supported))
    return out


def _difference_excludes_zero(a: Curve, b: Curve, condition: str, by_base, seed: int) -> bool:
    if by_base is None:
        return False
    xa = np.asarray(by_base[f"{a.subject}:{a.cell}"][condition].latency_s, dtype=float)
    xb = np.asarray(by_base[f"{b.subject}:{b.cell}"][condition].latency_s, dtype=float)
    ra = replicates(xa, median_rows, seed_for(a.cell, condition, seed=seed))
    rb = replicates(xb, median_rows, seed_for(b.cell, condition, seed=seed))
    ci = interval(ra - rb)
    return not ci.contains(0.0)


def _phrase(label: str) -> str:
    """'identity@edge' reads 'edge'; other chains keep their name."""
    chain, _, placement = label.partition("@")
    return placement if chain == "identity" else f"{placement} ({chain})"


def _mbit(value: float) -> str:
    return f"{value:.2g}" if value < 10 else f"{value:.0f}"
