"""Plain-language findings generated from the default analyses, each linked to the comparisons behind it."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Literal

from edgewise.analysis.analyses import Analyses
from edgewise.analysis.results import ResultSet
from edgewise.analysis.stats import magnitude as delta_magnitude

FindingKind = Literal["fastest-chain", "fastest-placement", "no-speedup", "speedup-range"]
_MAGNITUDE_RANK = {"negligible": 0, "small": 1, "medium": 2, "large": 3}


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    text: str
    refs: tuple[str, ...]  # ids of the comparisons (or speed-up comparisons) the statement rests on

    def to_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "refs": list(self.refs)}


def _weakest_effect(comp, winner: str) -> str:
    """The smallest effect of the winner against the others, or 'no significant' if one pair is not significant."""
    pairs = [comp.pair(winner, other) for other in comp.cells if other != winner]
    if not all(p.faster == winner for p in pairs):
        return "not significantly faster than every other"
    weakest = min((p.magnitude for p in pairs), key=_MAGNITUDE_RANK.__getitem__)
    return f"{weakest} effect against every other"


def _fastest(rs: ResultSet, analyses: Analyses, by: Literal["chain", "placement"]) -> list[Finding]:
    """Group comparisons by the shared factor (placement for chains, chain for placements), count winners."""
    comps = analyses.chain_comparisons if by == "chain" else analyses.placement_comparisons
    groups = defaultdict(list)
    for comp in comps:
        first = rs.cell(comp.cells[0])
        groups[first.placement if by == "chain" else first.chain].append(comp)
    findings = []
    for shared, group in groups.items():
        winners = Counter(getattr(rs.cell(c.fastest()), by) for c in group)
        best, count = winners.most_common(1)[0]
        won = [c for c in group if getattr(rs.cell(c.fastest()), by) == best]
        effects = Counter(_weakest_effect(c, c.fastest()) for c in won)
        effect = effects.most_common(1)[0][0] if len(effects) == 1 else "effects vary"
        if by == "chain":
            text = f"On {shared}, {best} is the fastest chain for {count} of {len(group)} subjects ({effect})"
            text += _drop_clause(rs, analyses, best) + "."
        else:
            text = f"For {shared}, {best} is the fastest placement for {count} of {len(group)} subjects ({effect})."
        findings.append(Finding("fastest-chain" if by == "chain" else "fastest-placement", text,
                                tuple(c.id for c in group)))
    return findings


def _drop_clause(rs: ResultSet, analyses: Analyses, chain: str) -> str:
    if chain == "identity":
        return ""
    test = next((t for t in analyses.accuracy_tests if t.chain == chain), None)
    drops = [d.drop_points for d in analyses.accuracy_drops if rs.cell(d.cell).chain == chain]
    if not drops or test is None:
        return ", accuracy unknown"
    mean = sum(drops) / len(drops)
    return f" at a {delta_magnitude(test.delta.d)} accuracy drop (mean {mean:.2f} points)"


def _no_speedups(analyses: Analyses) -> list[Finding]:
    groups = defaultdict(list)
    for s in analyses.speedups:
        if not s.significant:
            groups[(s.chain, s.placement)].append(s)
    return [Finding("no-speedup",
                    f"{chain} gives no significant speed-up over identity on {placement} for "
                    f"{', '.join(s.subject for s in ss)}.", tuple(s.comparison for s in ss))
            for (chain, placement), ss in groups.items()]


def _speedup_ranges(analyses: Analyses) -> list[Finding]:
    findings = []
    for s in analyses.speedup_summaries:
        refs = tuple(x.comparison for x in analyses.speedups if (x.chain, x.placement) == (s.chain, s.placement))
        findings.append(Finding("speedup-range",
                                f"On {s.placement}, {s.chain} runs {s.minimum:.2f}x to {s.maximum:.2f}x the speed of "
                                f"identity (mean {s.mean:.2f}x over {len(s.subjects)} subjects).", refs))
    return findings


def findings(rs: ResultSet, analyses: Analyses) -> list[Finding]:
    return (_fastest(rs, analyses, "chain") + _fastest(rs, analyses, "placement")
            + _speedup_ranges(analyses) + _no_speedups(analyses))
