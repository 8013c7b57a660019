"""Pareto front of latency (lower is better) against accuracy (higher is better)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    name: str
    latency_s: float
    accuracy: float


def dominates(p: Point, q: Point) -> bool:
    return (p.latency_s <= q.latency_s and p.accuracy >= q.accuracy
            and (p.latency_s < q.latency_s or p.accuracy > q.accuracy))


def pareto_front(points: Sequence[Point]) -> list[Point]:
    """The non-dominated points, fastest first: one sweep after sorting by latency, O(n log n)."""
    front: list[Point] = []
    for p in sorted(points, key=lambda p: (p.latency_s, -p.accuracy)):
        if not front or p.accuracy > front[-1].accuracy:
            front.append(p)
    return front
