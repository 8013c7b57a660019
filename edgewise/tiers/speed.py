"""A tier's per-request speed, modelled in the tier server: each compute step is held until it has
taken its CPU time divided by the tier's speed.

A CPU quota cannot do this: a request shorter than what is left of the CFS budget runs at full
speed and the next one stalls until the period refills, so short requests are not slowed at all
and the latency becomes bimodal. Stretching the measured compute time is exact for every request
size; the price is that the speed is modelled, not enforced by the kernel (and labelled so).

The hold sleeps, so a slow tier leaves the host's cores to the other tiers; only its last stretch
is spun, because a sleep wakes up late (see Holder).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, TypeVar

from edgewise.errors import ConfigError

T = TypeVar("T")
SPIN_S = 100e-6
MAX_LATENESS_S = 5e-3  # beyond this a wake-up is a stall, not the host's usual lateness


def check_speed(speed: float, where: str = "speed") -> float:
    """A speed in (0, 1]: this host is 1, and a faster device cannot be emulated by slowing down."""
    if not speed > 0:
        raise ConfigError(f"{where} {speed} must be positive",
                          "e.g. 0.25 for a device four times slower than this host")
    if speed > 1:
        raise ConfigError(f"{where} {speed} is faster than this host (speed 1.0), which cannot be emulated "
                          "by slowing requests down",
                          "set the fastest tier to speed 1.0 and the others relative to it, or run that tier "
                          "on a faster host (testbed.kind: remote)")
    return float(speed)


class Pace:
    """Runs compute steps at `speed` times this host's speed.

    With one intra-op thread ONNX Runtime computes on the calling thread, so that thread's CPU time
    is the step's own work, untouched by other processes that take the core meanwhile. With more
    threads the work is spread over a pool, so the wall-clock time of the step is stretched instead
    (a step slowed by contention is then stretched by as much again).
    """

    def __init__(self, speed: float = 1.0, threads: int = 1):
        self.speed = check_speed(speed)
        self.by_thread_time = threads <= 1
        self._holders = threading.local()  # one per serving thread: lateness is a per-thread affair

    def run(self, step: Callable[..., T], *args: Any) -> T:
        """`step(*args)`, held until it has taken its time at this tier's speed."""
        if self.speed >= 1.0:
            return step(*args)
        start, cpu0 = time.perf_counter(), time.thread_time()
        out = step(*args)
        work = time.thread_time() - cpu0 if self.by_thread_time else time.perf_counter() - start
        self._holder().until(start + work / self.speed)
        return out

    def _holder(self) -> "Holder":
        holder = getattr(self._holders, "holder", None)
        if holder is None:
            holder = self._holders.holder = Holder()
        return holder


class Holder:
    """Holds until a deadline: sleeps, then spins the last stretch.

    The spun stretch is at least `SPIN_S` and otherwise twice the recent lateness of a wake-up from
    sleep: on an idle host a sleep wakes within tens of microseconds, on a busy one it can be late
    by milliseconds, and spinning the last part keeps the thread on its core past the deadline's
    approach. The lateness is a moving average, so one stray wake-up does not make every hold spin.
    """

    def __init__(self) -> None:
        self.lateness_s = 0.0

    def until(self, deadline: float) -> None:
        now = time.perf_counter()
        nap = deadline - now - max(SPIN_S, 2 * self.lateness_s)
        if nap > 0:
            time.sleep(nap)
            late = max(0.0, time.perf_counter() - now - nap)
            self.lateness_s += (min(late, MAX_LATENESS_S) - self.lateness_s) / 8
        while time.perf_counter() < deadline:
            pass
