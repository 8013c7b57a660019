"""The host's drift over a study, from its store: what the host's speed did while the samples were taken,
how much room each tier had, and the samples the host was too slow to take at their device's speed.

Each sample records, per tier that computed it, the host's factor against its nominal speed (how much
slower the host ran; tiers/hostspeed.py). A tier at speed s can be held while factor x s < 1: its
headroom is 1 / (factor x s), the factor by which the host may still slow down.
"""

from __future__ import annotations

import statistics
from typing import Any

from edgewise.output.store import Store

BIN_S = 10.0  # the drawn series: one point per this many seconds of measuring
MAX_POINTS = 240


def drift_summary(store: Store, speeds: dict[str, float]) -> dict[str, Any]:
    """The study's drift record for results.json ({} for a study whose tiers follow no nominal speed)."""
    samples = store.pacing()
    stamped = [(ts, _factor(pacing)) for ts, _, pacing, _ in samples]
    stamped = [(ts, f) for ts, f in stamped if f is not None]
    unheld = store.unheld()
    if not stamped and not unheld:
        return {}
    start = min([ts for ts, _ in stamped] + [u["ts"] for u in unheld])
    factors = [f for _, f in stamped]
    out: dict[str, Any] = {
        "nominal": store.nominal(),
        "series": _series(stamped, start),
        "factor": _quantiles(factors),
        "headroom": {tier: _headroom(speed, factors) for tier, speed in speeds.items()},
        "unheld": {"taken_again": len(unheld), "kept": sum(1 for _, _, _, held in samples if not held),
                   "waited_s": _waited(store), "spans": _spans([u["ts"] - start for u in unheld])},
    }
    return out


def _factor(pacing: dict[str, dict[str, float | None]]) -> float | None:
    values = [f["host"] for f in pacing.values() if f.get("host") is not None]
    return max(values) if values else None


def _series(stamped: list[tuple[float, float]], start: float) -> list[list[float]]:
    """[[seconds since the first sample, median factor of the bin]], at most MAX_POINTS points."""
    if not stamped:
        return []
    span = stamped[-1][0] - start
    width = max(BIN_S, span / MAX_POINTS)
    bins: dict[int, list[float]] = {}
    for ts, f in stamped:
        bins.setdefault(int((ts - start) // width), []).append(f)
    return [[round((k + 0.5) * width, 1), round(statistics.median(v), 4)] for k, v in sorted(bins.items())]


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]

    return {"min": ordered[0], "p10": q(0.1), "median": q(0.5), "p90": q(0.9), "max": ordered[-1]}


def _headroom(speed: float, factors: list[float]) -> dict[str, float]:
    """The tier's room while the samples were taken: at the median host and at its slowest (p90, max)."""
    if not factors:
        return {"speed": speed}
    q = _quantiles(factors)
    return {"speed": speed, "median": 1 / (speed * q["median"]), "least": 1 / (speed * q["max"]),
            "p10": 1 / (speed * q["p90"])}


WAIT_EVENT = "headroom-wait"


def wait_message(wait_s: float, samples: int) -> str:
    """The event the request loop stores when it pauses for the host (its seconds read back by _waited)."""
    return (f"waited {wait_s:.1f} s for the host to recover, then measured {samples} sample(s) again: the host "
            "was too slow for their tiers' speed")


def _waited(store: Store) -> float:
    """Seconds the request loop paused for the host to recover (its WAIT_EVENT events)."""
    total = 0.0
    for event in store.events():
        if event["kind"] == WAIT_EVENT:
            try:
                total += float(event["message"].split()[1])
            except (IndexError, ValueError):
                continue
    return total


def _spans(times: list[float], gap_s: float = 30.0) -> list[list[float]]:
    """[[from, to]] seconds since the first sample in which samples went unheld (gaps over gap_s split them)."""
    spans: list[list[float]] = []
    for t in sorted(times):
        if spans and t - spans[-1][1] <= gap_s:
            spans[-1][1] = t
        else:
            spans.append([t, t])
    return [[round(a, 1), round(b, 1)] for a, b in spans]
