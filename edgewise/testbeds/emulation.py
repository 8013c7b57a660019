"""The emulation report every study records: each verified figure, requested against achieved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figure:
    """One verified quantity: what was asked, what was achieved, and how they are compared."""

    name: str  # e.g. "bandwidth:mobile-edge:up", "rtt:edge-cloud", "cpu:mobile", "memory:mobile"
    requested: float | None
    achieved: float | None
    unit: str
    tolerance_abs: float | None = None  # absolute bound (RTT); otherwise relative to `requested`
    note: str = ""
    gates: bool = True  # False: recorded and reported, but a study does not stop on it
    tolerance_min: float | None = None  # a relative bound this figure never goes under (noisier checks)
    slack_above: float = 0.0  # a relative allowance above `requested` only, on top of the bound (a cold start)

    def bound(self, tolerance: float) -> float:
        if self.tolerance_abs is not None:
            return self.tolerance_abs
        return max(tolerance, self.tolerance_min or 0.0)

    def error(self) -> float | None:
        if self.requested is None or self.achieved is None:
            return None
        if self.tolerance_abs is not None:
            return abs(self.achieved - self.requested)
        return abs(self.achieved - self.requested) / self.requested if self.requested else None

    def fails(self, tolerance: float) -> bool:
        err = self.error()
        if err is None or not self.gates:
            return False
        above = self.tolerance_abs is None and self.achieved > self.requested
        return err > self.bound(tolerance) + (self.slack_above if above else 0.0)


@dataclass
class EmulationReport:
    kind: str
    modelled: bool
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)  # tier -> its host (real hosts: PING)
    # What each part of each tier is: {"mobile": {"speed": "modelled (...)", "share": "enforced (...)"}, ...}
    labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)

    def failures(self, tolerance: float = 0.10) -> list[str]:
        """One line per figure outside its bound (absolute bound where given, else `tolerance`)."""
        out = []
        for f in self.figures:
            if f.fails(tolerance):
                bound = (f"±{f.tolerance_abs} {f.unit}" if f.tolerance_abs is not None
                         else f"±{f.bound(tolerance):.0%}" + (f", +{f.slack_above:.0%} for a cold start"
                                                              if f.slack_above else ""))
                out.append(f"{f.name}: requested {f.requested:.3g} {f.unit}, achieved {f.achieved:.3g} {f.unit} "
                           f"(outside {bound})")
        return out

    def short_of_headroom(self) -> list[str]:
        """One line per tier this host is now too slow to hold at its speed (its `headroom:TIER` below 1),
        naming what to do: such a tier's samples wait for the host to recover, or are kept marked."""
        out = []
        for f in self.figures:
            if f.name.startswith("headroom:") and f.achieved is not None and f.achieved < 1.0:
                tier = f.name.split(":", 1)[1]
                out.append(f"{f.name} {f.achieved:.2f}x: this host now runs too slow to hold the {tier} tier at its "
                           "speed; its samples will wait for headroom. If the host's nominal was measured at a faster "
                           "time, measure it again on a quiet host (edgewise testbed nominal --measure), or lower "
                           "the tier's speed")
        return out

    def get(self, name: str) -> Figure:
        for f in self.figures:
            if f.name == name:
                return f
        raise KeyError(name)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EmulationReport":
        """A report as to_dict wrote it (a study's store keeps it that way)."""
        figures = [Figure(f["name"], f["requested"], f["achieved"], f["unit"], f.get("tolerance_abs"),
                          f.get("note", ""), f.get("gates", True), f.get("tolerance_min"), f.get("slack_above", 0.0))
                   for f in data.get("figures", [])]
        return cls(data["kind"], data["modelled"], figures, list(data.get("notes", [])), dict(data.get("hosts", {})),
                   dict(data.get("labels", {})))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "modelled": self.modelled, "notes": list(self.notes), "hosts": dict(self.hosts),
                "labels": self.labels,
                "figures": [{"name": f.name, "requested": f.requested, "achieved": f.achieved, "unit": f.unit,
                             "error": f.error(), "tolerance_abs": f.tolerance_abs, "note": f.note,
                             "gates": f.gates, "tolerance_min": f.tolerance_min, "slack_above": f.slack_above}
                            for f in self.figures]}
