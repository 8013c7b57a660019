"""The Testbed contract and the emulation report every study records."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from edgewise.tiers.client import TierClient
from edgewise.tiers.spec import LinkSpec, TierSpec


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
        return err > self.bound(tolerance)


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
                         else f"±{f.bound(tolerance):.0%}")
                out.append(f"{f.name}: requested {f.requested:.3g} {f.unit}, achieved {f.achieved:.3g} {f.unit} "
                           f"(outside {bound})")
        return out

    def get(self, name: str) -> Figure:
        for f in self.figures:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "modelled": self.modelled, "notes": list(self.notes), "hosts": dict(self.hosts),
                "labels": self.labels,
                "figures": [{"name": f.name, "requested": f.requested, "achieved": f.achieved, "unit": f.unit,
                             "error": f.error(), "tolerance_abs": f.tolerance_abs, "note": f.note,
                             "gates": f.gates, "tolerance_min": f.tolerance_min}
                            for f in self.figures]}


class Testbed(ABC):
    """Brings tiers and links to life, says where each tier answers, and verifies the emulation."""

    __test__ = False
    kind: str = ""
    modelled: bool = False  # True where links are modelled in the wire layer, not emulated by the kernel

    @abstractmethod
    def start(self, tiers: dict[str, TierSpec], links: list[LinkSpec]) -> None: ...

    @abstractmethod
    def endpoint(self, tier: str) -> str:
        """host:port of `tier` as seen from the client."""

    @abstractmethod
    def client(self, timeout_s: float = 120.0) -> TierClient: ...

    @abstractmethod
    def verify(self, quick: bool = False) -> EmulationReport:
        """Measure every figure; `quick` uses smaller transfers and workloads (tests)."""

    @abstractmethod
    def restart(self, tier: str) -> None:
        """Restart a dead tier server; it comes back empty and needs its artifacts loaded again."""

    @abstractmethod
    def stop(self) -> None: ...

    def reshape(self, links: list[LinkSpec], client: TierClient) -> None:
        """Give the running links new figures in place (no tier restarts); `client` is the study's,
        whose own links change too. Testbeds whose links are real cannot."""
        from edgewise.errors import TestbedError

        raise TestbedError(f"the {self.kind} testbed cannot change its links while running",
                           "sweep network conditions on a linux or local testbed")

    def verify_links(self, links: list[LinkSpec], quick: bool = False) -> EmulationReport:
        """Bandwidth and RTT of the given links only, as they are now (after a reshape)."""
        from edgewise.testbeds.verify import verify_links

        report = EmulationReport(self.kind, self.modelled)
        with self.client() as client:
            verify_links(client, links, report, quick)
        return report

    def __enter__(self) -> "Testbed":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
