"""The server scenario: an open-loop generator with Poisson arrivals, and the search for the
largest rate at which the SLA's percentile holds.

Hand-written rather than driven by MLPerf LoadGen (PyPI mlcommons-loadgen): LoadGen judges one
rate per run (VALID / INVALID after a minimum duration, results in log files) and leaves the
search over rates to its user, while edgewise needs each request's own record (the per-tier
breakdown with queue:TIER, and the tier's explicit busy replies) at every rate it offers. What
LoadGen contributes is kept: Poisson arrivals from a pre-drawn schedule, latency counted from the
scheduled arrival (a late generator cannot hide queueing), and its early-stopping bound
(analysis/tails.py) to judge a rate.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgewise.analysis.tails import min_samples, upper_bound
from edgewise.sla import within
from edgewise.tiers import parts
from edgewise.tiers.client import TierBusy
from edgewise.tiers.peers import PeerPool
from edgewise.tiers.wire import BUSY, Frame

# What one request came to: "ok" with its breakdown, "busy" (the tier's queue was full) or "error".
Send = Callable[[], dict[str, float]]  # raises TierBusy when refused; returns the breakdown when served


@dataclass
class Outcome:
    scheduled_s: float  # arrival time in the schedule, from the step's start
    sent_s: float  # when the generator actually sent it
    latency_s: float  # completion - scheduled arrival
    kind: str  # ok | busy | error
    breakdown: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def poisson_arrivals(rate_per_s: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """Arrival times (s from the start) of a Poisson process: exponential gaps of mean 1 / rate."""
    return np.cumsum(rng.exponential(1.0 / rate_per_s, count))


def offer(send: Send, rate_per_s: float, count: int, seed: int, max_in_flight: int = 128) -> list[Outcome]:
    """Send `count` requests at Poisson arrivals of `rate_per_s`, open loop: a request is sent at its
    arrival time whether or not earlier ones completed (up to `max_in_flight` at once)."""
    schedule = poisson_arrivals(rate_per_s, count, np.random.default_rng(seed))
    outcomes: list[Outcome | None] = [None] * count
    ready: queue.SimpleQueue[tuple[int, float] | None] = queue.SimpleQueue()

    def worker() -> None:
        while (item := ready.get()) is not None:
            i, sent = item
            try:
                parts, kind, error = send(), "ok", None
            except TierBusy as exc:
                parts, kind, error = {}, "busy", str(exc)
            except Exception as exc:  # noqa: BLE001 - a failed request is an outcome of the load, not a crash
                parts, kind, error = {}, "error", f"{type(exc).__name__}: {exc}"
            done = time.perf_counter() - start
            outcomes[i] = Outcome(float(schedule[i]), sent, done - float(schedule[i]), kind, parts, error)

    # The senders exist before the clock starts: creating threads on the way would delay arrivals.
    workers = [threading.Thread(target=worker, daemon=True) for _ in range(min(max_in_flight, count))]
    for w in workers:
        w.start()
    start = time.perf_counter()
    for i, at in enumerate(schedule):
        delay = start + at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        ready.put((i, time.perf_counter() - start))
    for _ in workers:
        ready.put(None)
    for w in workers:
        w.join()
    return [o for o in outcomes if o is not None]


@dataclass
class Step:
    """One offered rate and what came of it."""

    rate_per_s: float
    outcomes: list[Outcome]
    percentile: int
    max_latency_s: float
    peak_rss_mb: dict[str, float] = field(default_factory=dict)

    @property
    def served(self) -> np.ndarray:
        return np.array([o.latency_s for o in self.outcomes if o.kind == "ok"])

    @property
    def effective(self) -> np.ndarray:
        """Latencies with a busy or failed request counted as infinitely late: it was not served."""
        return np.array([o.latency_s if o.kind == "ok" else np.inf for o in self.outcomes])

    def count(self, kind: str) -> int:
        return sum(o.kind == kind for o in self.outcomes)

    @property
    def bound(self):
        return upper_bound(self.effective, self.percentile)

    @property
    def holds(self) -> bool:
        """The SLA's percentile, bounded as MLPerf's early stopping does, is within the latency limit."""
        bound = self.bound
        return bound is not None and within(bound.value, self.max_latency_s)

    def achieved_rate(self) -> float:
        done = [o.scheduled_s + o.latency_s for o in self.outcomes if o.kind == "ok"]
        return (len(done) - 1) / max(done) if len(done) > 1 else 0.0

    def to_dict(self) -> dict:
        served = self.served
        pct = {f"p{p}_s": float(np.percentile(served, p)) if served.size else None for p in (50, 90, 95, 99)}
        bound = self.bound
        parts: dict[str, list[float]] = {}
        for o in self.outcomes:
            for k, v in o.breakdown.items():
                parts.setdefault(k, []).append(v)
        return {"rate_per_s": self.rate_per_s, "requests": len(self.outcomes), "ok": self.count("ok"),
                "busy": self.count("busy"), "errors": self.count("error"),
                "achieved_rate_per_s": self.achieved_rate(), **pct,
                "bound": bound.to_dict() if bound else None, "holds": self.holds,
                "median_breakdown_s": {k: float(np.median(v)) for k, v in parts.items()},
                "peak_rss_mb": self.peak_rss_mb,
                "first_error": next((o.error for o in self.outcomes if o.kind == "error"), None)}


@dataclass
class Search:
    """Every step offered, and the largest rate that held."""

    steps: list[Step]
    capacity_per_s: float  # the physical limit guessed from the single-stream service time

    @property
    def best(self) -> Step | None:
        held = [s for s in self.steps if s.holds]
        return max(held, key=lambda s: s.rate_per_s) if held else None

    def to_dict(self) -> dict:
        best = self.best
        return {"capacity_per_s": self.capacity_per_s,
                "max_rate_per_s": best.rate_per_s if best else None,
                "bound_at_max": best.bound.to_dict() if best and best.bound else None,
                "steps": [s.to_dict() for s in sorted(self.steps, key=lambda s: s.rate_per_s)]}


def requests_per_step(percentile: int, floor: int = 0) -> int:
    """Enough requests for the percentile's early-stopping bound to exist with a few to spare."""
    return max(floor, int(min_samples(percentile) * 1.15) + 5)


def find_max_rate(run_step: Callable[[float], Step], capacity_per_s: float, precision: float = 0.05,
                  max_steps: int = 12, start_fraction: float = 0.9) -> Search:
    """The largest rate that holds, to within `precision` (relative), below the physical limit.

    A queue fed at or above `capacity_per_s` (compute workers / service time) grows without bound,
    so no rate from there up is sustainable, and a short step cannot tell 0.97 of the limit from
    1.03: the limit is where the search starts as the lowest rate known to fail, never offered.
    From `start_fraction` of it, down by 1.5x until a rate holds, then geometric bisection between
    the highest rate that held and the lowest that failed."""
    steps: list[Step] = []

    def trial(rate: float) -> bool:
        steps.append(run_step(rate))
        return steps[-1].holds

    failed, held = capacity_per_s, None
    rate = start_fraction * capacity_per_s
    while len(steps) < max_steps and held is None:
        if trial(rate):
            held = rate
        else:
            failed, rate = rate, rate / 1.5
    while len(steps) < max_steps and held is not None and failed / held > 1 + precision:
        rate = float(np.sqrt(held * failed))
        if trial(rate):
            held = rate
        else:
            failed = rate
    return Search(steps, capacity_per_s)


def single_stream_service_s(send: Send, count: int = 30) -> float:
    """The median time the bottleneck tier spends on a request (preprocessing + compute), one at a time."""
    per_tier: dict[str, list[float]] = {}
    for _ in range(count):
        for tier, value in parts.work_by_tier(send()).items():
            per_tier.setdefault(tier, []).append(value)
    if not per_tier:
        raise ValueError("the requests reported no compute time")
    return max(float(np.median(v)) for v in per_tier.values())


class EchoSender:
    """A synthetic request of known service time: ECHO asking the tier's worker for `work_s`."""

    def __init__(self, address: str, work_s: float, tier: str = "edge"):
        self.pool, self.work_s, self.tier = PeerPool(address), work_s, tier

    def __call__(self) -> dict[str, float]:
        reply = self.pool.exchange(Frame("ECHO", {"work_s": self.work_s}))
        if reply.type == "ERROR":
            if reply.meta.get("error") == BUSY:
                raise TierBusy(self.tier, str(reply.meta.get("message", "")))
            raise RuntimeError(str(reply.meta.get("message")))
        return {parts.key(parts.QUEUE, self.tier): reply.meta["queue_s"],
                parts.key(parts.COMPUTE, self.tier): reply.meta["compute_s"]}

    def close(self) -> None:
        self.pool.close()
