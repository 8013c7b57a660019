"""A cell's footprint on its tiers: the model each tier holds and the peak memory it needs to serve it.

Both come per part (a partition's head on one tier, its tail on the next), from the serving-memory
probe the study stores with each artifact (edgewise.profiling.memory); results without it (older
studies, imported CSVs) give the model's size from the artifact's bytes and no memory. The SLA's
`max_model_mb` and `max_memory_mb` bound every part on its tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from edgewise.analysis.results import CellResult
from edgewise.sla import within

Status = Literal["meets", "borderline", "fails"]
MB = 2**20


@dataclass(frozen=True)
class PartFootprint:
    tier: str
    model_mb: float | None
    peak_memory_mb: float | None


def footprint(cell: CellResult) -> list[PartFootprint]:
    """One entry per part, head first, on the tier that serves it ([] when nothing is known)."""
    tiers = cell.placement.split("-")
    parts = (cell.memory or {}).get("parts") or []
    if parts:
        return [PartFootprint(tiers[min(i, len(tiers) - 1)], p.get("model_mb"), p.get("peak_rss_mb"))
                for i, p in enumerate(parts)]
    size = (cell.artifact or {}).get("size_bytes")
    return [PartFootprint(cell.placement, size / MB, None)] if size is not None else []


def largest(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def model_status(cell: CellResult, max_model_mb: float | None, reasons: list[str]) -> Status:
    """meets when every part's file is within the bound; fails when one is not; borderline when unknown."""
    return _parts_status(cell, max_model_mb, lambda p: p.model_mb, "model size unknown",
                         lambda p: f"model {p.model_mb:.1f} MB on {p.tier} exceeds {max_model_mb:g} MB", reasons)


def memory_status(cell: CellResult, max_memory_mb: float | None, reasons: list[str]) -> Status:
    """meets when every part's serving peak is within the bound; fails when one is not; borderline when
    the study measured no serving memory for the cell."""
    return _parts_status(cell, max_memory_mb, lambda p: p.peak_memory_mb, "serving memory not measured",
                         lambda p: f"peak memory {p.peak_memory_mb:.0f} MB on {p.tier} exceeds {max_memory_mb:g} MB",
                         reasons)


def _parts_status(cell: CellResult, bound: float | None, value: Callable[[PartFootprint], float | None],
                  unknown: str, exceeds: Callable[[PartFootprint], str], reasons: list[str]) -> Status:
    """One size bound judged on every part of the cell on its tier."""
    if bound is None:
        return "meets"
    parts = footprint(cell)
    if not parts or any(value(p) is None for p in parts):
        reasons.append(unknown)
        return "borderline"
    over = [p for p in parts if not within(value(p), bound)]
    reasons.extend(exceeds(p) for p in over)
    return "fails" if over else "meets"
