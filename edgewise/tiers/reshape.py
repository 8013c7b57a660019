"""Reshaping links in place: a running tier server (or client) takes new message-level shapes.

A study sweeping network conditions changes the links between conditions without restarting
the tiers: the shapes are updated in the objects the open connections already hold, so the next
frame on every connection waits the new delay (and paces at the new modelled rate).
"""

from __future__ import annotations

from typing import Any

from edgewise.errors import ServerError
from edgewise.tiers import shaping
from edgewise.tiers.shaping import LinkShape, TokenBucket


def parse_shapes(data: Any) -> dict[str, LinkShape]:
    """{neighbour: {delay_s, rate_mbit}} from a SHAPE request, checked."""
    if not isinstance(data, dict):
        raise ServerError("SHAPE needs shapes: {neighbour: {delay_s, rate_mbit}}", "send a mapping per neighbour")
    out = {}
    for neighbour, shape in data.items():
        if not isinstance(shape, dict):
            raise ServerError(f"SHAPE: the shape of {neighbour!r} is not a mapping", "send {delay_s, rate_mbit}")
        delay, rate = shape.get("delay_s", 0.0), shape.get("rate_mbit")
        if not isinstance(delay, (int, float)) or delay < 0 or (rate is not None and (not isinstance(rate, (int, float))
                                                                                      or rate <= 0)):
            raise ServerError(f"SHAPE: bad shape for {neighbour!r}: {shape!r}",
                              "delay_s >= 0, rate_mbit > 0 or null (the kernel shapes the rate)")
        out[str(neighbour)] = LinkShape(float(delay), None if rate is None else float(rate))
    return out


def reshape_in_place(shapes: dict[str, LinkShape], new: dict[str, LinkShape]) -> None:
    """Give every neighbour in `new` its new shape, mutating the object connections hold where one exists."""
    for neighbour, shape in new.items():
        current = shapes.get(neighbour)
        if current is None or current is shaping.NO_SHAPE:  # never mutate the shared no-shape default
            shapes[neighbour] = LinkShape(shape.delay_s, shape.rate_mbit)
            continue
        current.bucket = TokenBucket(shape.rate_mbit * 1e6) if shape.rate_mbit else None
        current.rate_mbit = shape.rate_mbit
        current.delay_s = shape.delay_s


def as_meta(shapes: dict[str, LinkShape]) -> dict[str, dict[str, float | None]]:
    return {k: v.to_dict() for k, v in shapes.items()}
