"""Server-scenario results: per cell the largest sustainable rate, and the SLA answered at a rate.

A cell holds the SLA at a rate when its latency percentile, on MLPerf's early-stopping bound with
busy replies counted as unserved, stays within the limit at that rate: measured at the SLA's rate
itself when the run offered it, else read from the search (the largest rate that held is at least
the SLA's rate).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from edgewise.errors import DataError
from edgewise.vocabulary import OK


@dataclass(frozen=True)
class LoadCell:
    name: str
    subject: str
    chain: str
    placement: str
    status: str
    error: str | None
    service_s: float | None
    capacity_per_s: float | None
    max_rate_per_s: float | None
    bound_at_max: dict | None
    steps: tuple[dict, ...]
    at_sla_rate: dict | None

    @classmethod
    def from_dict(cls, d: dict) -> "LoadCell":
        return cls(d["cell"], d["subject"], d["chain"], d["placement"], d["status"], d.get("error"),
                   d.get("service_s"), d.get("capacity_per_s"), d.get("max_rate_per_s"), d.get("bound_at_max"),
                   tuple(d.get("steps") or ()), d.get("at_sla_rate"))

    def holds_at(self, rate_per_s: float) -> tuple[bool, str]:
        """Whether the cell holds the SLA at this rate, and on what evidence."""
        if self.status != OK:
            return False, f"cell {self.status}" + (f": {self.error}" if self.error else "")
        at = self.at_sla_rate
        if at is not None and abs(at["rate_per_s"] - rate_per_s) < 1e-9:
            bound = at.get("bound")
            shown = (f"bound {bound['value_s'] * 1e3:.4g} ms (order statistic {bound['order_index']} of "
                     f"{bound['n']}, {bound['confidence']:.0%} confidence)") if bound else "no bound"
            busy = f", {at['busy']} busy of {at['requests']}" if at.get("busy") else ""
            return bool(at["holds"]), f"measured at {rate_per_s:g}/s: {shown}{busy}"
        best = self.max_rate_per_s
        if best is None:
            return False, "no offered rate held"
        return best >= rate_per_s, f"largest rate that held {best:.4g}/s"


@dataclass(frozen=True)
class RateVerdict:
    cell: LoadCell
    holds: bool
    evidence: str


LOAD_FORMAT = "edgewise-load/1"  # load.json, written from the store (edgewise.output.results.write_load)


def read_load(path: str | Path) -> tuple[dict, list[LoadCell]]:
    p = Path(path)
    if p.is_dir():
        p = p / "load.json"
    if not p.is_file():
        raise DataError(f"no load results at {p}", "run `edgewise load STUDY --out DIR` first")
    data = json.loads(p.read_text())
    if data.get("format") != LOAD_FORMAT:
        raise DataError(f"{p} is not an edgewise load result", "give the load.json written by `edgewise load`")
    return data["study"], [LoadCell.from_dict(c) for c in data["cells"]]


def recommend_at_rate(cells: list[LoadCell], rate_per_s: float) -> dict[str, list[RateVerdict]]:
    """Per subject, cells ranked: those that hold at the rate first (most headroom first), then the rest."""
    out: dict[str, list[RateVerdict]] = defaultdict(list)
    for cell in cells:
        out[cell.subject].append(RateVerdict(cell, *cell.holds_at(rate_per_s)))
    for verdicts in out.values():
        verdicts.sort(key=lambda v: (not v.holds, -(v.cell.max_rate_per_s or 0.0)))
    return dict(out)
