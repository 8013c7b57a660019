"""Operator settings swept in one study: `prune[ratio=0.3]`, `prune[ratio=0.5]`, ... as one curve.

A sweep is the chains of one subject on one placement that differ only in the settings of one
link (the operator swept); each setting is a point (latency median with its CI, accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewise.analysis.bootstrap import Interval, interval, median_rows, replicates, seed_for
from edgewise.analysis.results import ResultSet
from edgewise.errors import EdgewiseError
from edgewise.operators.chain import Chain
from edgewise.vocabulary import OK


@dataclass(frozen=True)
class SettingPoint:
    cell: str
    chain: str
    setting: str  # the swept link's settings, e.g. "ratio=0.3" ("" for the operator's defaults)
    latency_s: float
    latency_ci: Interval
    accuracy: float | None


@dataclass(frozen=True)
class Sweep:
    subject: str
    placement: str
    operator: str
    points: tuple[SettingPoint, ...]

    @property
    def title(self) -> str:
        return f"{self.operator} on {self.subject} at {self.placement}"

    def to_dict(self) -> dict:
        return {"subject": self.subject, "placement": self.placement, "operator": self.operator,
                "points": [{"cell": p.cell, "chain": p.chain, "setting": p.setting, "latency_s": p.latency_s,
                            "latency_ci": [p.latency_ci.low, p.latency_ci.high], "accuracy": p.accuracy}
                           for p in self.points]}


def setting_sweeps(rs: ResultSet, seed: int = 0) -> list[Sweep]:
    """Every operator swept over two or more settings, per subject and placement, in the results."""
    groups: dict[tuple, list[tuple[str, object]]] = {}
    for cell in rs.cells:
        if cell.status != OK or len(cell.latency_s) == 0:
            continue
        try:
            chain = Chain.parse(cell.chain)
        except EdgewiseError:
            continue  # an imported chain name edgewise does not parse: no sweep to find
        links = chain.links
        for i, name in enumerate(chain.names):
            others = tuple(link for j, link in enumerate(links) if j != i)
            key = (cell.subject, cell.placement, chain.names, i, others)
            setting = links[i][len(name) + 1:-1] if links[i] != name else ""
            groups.setdefault(key, []).append((setting, cell))
    sweeps = []
    for (subject, placement, names, i, _), members in groups.items():
        if len({s for s, _ in members}) < 2:
            continue
        points = []
        for setting, cell in members:
            latency = np.asarray(cell.latency_s, dtype=float)
            points.append(SettingPoint(cell.name, cell.chain, setting, float(np.median(latency)),
                                       median_ci(latency, cell.name, seed), cell.primary_accuracy))
        points.sort(key=lambda p: _setting_order(p.setting))
        sweeps.append(Sweep(subject, placement, names[i], tuple(points)))
    return sweeps


def _setting_order(setting: str) -> tuple:
    """Numeric settings in numeric order (ratio=0.3 before ratio=0.25 would be wrong as text)."""
    out = []
    for item in setting.split(","):
        _, _, value = item.partition("=")
        try:
            out.append((0, float(value), ""))
        except ValueError:
            out.append((1, 0.0, value))
    return tuple(out)


def median_ci(latency_s: np.ndarray, name: str, seed: int = 0) -> Interval:
    """The bootstrap 95% interval of a sample's median, seeded by its name."""
    return interval(replicates(latency_s, median_rows, seed_for(name, seed=seed)))
