"""A tier's per-request speed, modelled in the tier server: each compute step is held until it has
taken the time the emulated device takes for it.

A tier's speed is relative to the host's nominal speed (testbeds/nominal.py). A step's device time is
its CPU time on this host as the quiet nominal host would have taken it (tiers/hostspeed.py: less the
cold start a busy host adds, divided by how much slower the host runs now), divided by the tier's speed:
the device keeps its absolute speed while the host drifts. A server given
no nominal (a real device's `edgewise serve`) takes the host as it is now, and speed 1 is not held.

A CPU quota cannot do this: a request shorter than what is left of the CFS budget runs at full
speed and the next one stalls until the period refills, so short requests are not slowed at all
and the latency becomes bimodal. Stretching the measured compute time is exact for every request
size; the price is that the speed is modelled, not enforced by the kernel (and labelled so).

A step that ends after its device time (the host is slower than the device, or another process took
the core) cannot be held: the seconds it ran late are returned, so the sample can be marked and taken
again. The hold sleeps, so a slow tier leaves the host's cores to the other tiers; only its last stretch
is spun, because a sleep wakes up late (see Holder).

A step's first run after a gap also pays for the caches that whatever ran meanwhile took, and a slow
tier's gaps are long: it sleeps through its holds, and a neighbour that streams memory takes the core
and every cache line the step had. Stretched by the tier's slowness, a refill of a fraction of a
millisecond became a millisecond of a mobile device's time. A device does not pay for our neighbours,
and the nominal and the probe time warm runs; so a short step is run again inside its own hold, where
the hold has room for it, and held for the lesser of its two CPU times (`again`). A hold with room for
the second run but not for the time it saves (an edge's, about one step long) is held until the second
run ends: that takes out part of the cold start, and never adds to it.

"Room for it" is the warm run's expected time: the share of the cold run's CPU time the same step's
warm runs took so far (half, before its first). At that threshold the two runs end at the cold run's
device time, so a host that drifts across it moves the step by nothing; a threshold of a whole cold run
left a step on an edge near it (an edge has room for about one more run) timed warm in one request and
cold in the next, a jump of its whole cold start.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable, Hashable, NamedTuple, TypeVar

from edgewise.errors import ConfigError
from edgewise.tiers.hostspeed import HostSpeed

T = TypeVar("T")
SPIN_S = 100e-6
MAX_LATENESS_S = 5e-3  # beyond this a wake-up is a stall, not the host's usual lateness
# A request ran at its device's speed when its steps ran late by no more than this share of its compute
# (or LATE_FLOOR_S): timer and scheduling jitter, not a host too slow for the device.
LATE_SHARE = 0.02
LATE_FLOOR_S = 100e-6
# A step this short is timed again warm, when its hold has room for its warm run. A longer step is timed
# cold: its cold start is a small share of it, so a step near the bound that crosses it beside a neighbour
# moves its cell by no more than that share (docs/emulation.md).
AGAIN_MAX_S = 20e-3
# A step's warm run's share of its cold run before one is measured (resnet's decode and int8 models: 0.63-0.94).
# A guess too low costs one request (its warm run ends past the cold run's device time, by the difference);
# one too high never learns where the hold has room for the warm run but not for the guess (as 1.0 did at
# an edge: it has room for about one more run).
FIRST_WARM_SHARE = 0.5
# How much of its learned warm share one more warm run moves: enough to follow a host that changes, little
# enough that one disturbed run does not move the threshold far.
WARM_SHARE_STEP = 0.25


def check_speed(speed: float, where: str = "speed") -> float:
    """A speed in (0, 1]: the nominal host is 1, and a faster device cannot be emulated by slowing down."""
    if not speed > 0:
        raise ConfigError(f"{where} {speed} must be positive",
                          "e.g. 0.25 for a device four times slower than this host")
    if speed > 1:
        raise ConfigError(f"{where} {speed} is faster than this host (speed 1.0), which cannot be emulated "
                          "by slowing requests down",
                          "set the fastest tier to speed 1.0 or below and the others relative to it, or run that "
                          "tier on a faster host (testbed.kind: remote)")
    return float(speed)


def held(late_s: float, compute_s: float) -> bool:
    """Whether a request whose steps ran `late_s` past their device time still ran at the device's speed."""
    return late_s <= max(LATE_FLOOR_S, LATE_SHARE * compute_s)


class Paced(NamedTuple):
    out: Any
    late_s: float  # how long the step ran past its device time (0: held)
    factor: float  # the host's factor against nominal it was held by (NaN: the tier follows none)


class Pace:
    """Runs compute steps at `speed` times the nominal host's speed (this host's, without a `host`).

    With one intra-op thread ONNX Runtime computes on the calling thread, so that thread's CPU time
    is the step's own work, untouched by other processes that take the core meanwhile. With more
    threads the work is spread over a pool, so the wall-clock time of the step is stretched instead
    (a step slowed by contention is then stretched by as much again).
    """

    def __init__(self, speed: float = 1.0, threads: int = 1, host: HostSpeed | None = None):
        self.speed = check_speed(speed)
        self.by_thread_time = threads <= 1
        self.host = host
        self.paced = host is not None or self.speed < 1.0
        self._holders = threading.local()  # one per serving thread: lateness is a per-thread affair
        self._warm_share: dict[Hashable, float] = {}  # per step: its warm run's CPU time over its cold run's

    def run(self, step: Callable[..., T], *args: Any, again: Hashable | None = None) -> Paced:
        """`step(*args)` held until it has taken its device time; with how many seconds it ran past it and
        the host's factor it was held by (NaN where the tier follows no nominal speed). `again`: the key of
        a step that may be run a second time, warm, and held for the lesser CPU time (it must give the same
        output and change nothing; the first run's output is returned); one key per step, under which its
        warm runs' share of its cold ones is learned."""
        if not self.paced:
            return Paced(step(*args), 0.0, math.nan)
        start, cpu0 = time.perf_counter(), time.thread_time()
        out = step(*args)
        end = time.perf_counter()
        work = time.thread_time() - cpu0 if self.by_thread_time else end - start
        host = self.host
        factor = host.factor if host is not None else math.nan
        deadline = on_time = start + self._device_s(work)
        if (again is not None and self.by_thread_time and work <= AGAIN_MAX_S
                and deadline - end >= self._warm_share.get(again, FIRST_WARM_SHARE) * work):
            first_end, cpu1 = end, time.thread_time()
            step(*args)
            end, warm = time.perf_counter(), time.thread_time() - cpu1
            self._learn(again, warm / work if work > 0 else 1.0)
            # Held for the warm run's device time; where both runs took longer than that (a hold with room for
            # the second run but not for all of the cold start it saves), until they end: no later than the
            # cold run's device time, unless the warm run took longer than its expected share (then by that
            # excess of its own CPU time, which is not the host running late).
            deadline = max(start + self._device_s(min(work, warm)), min(end, deadline))
            on_time = max(deadline, first_end + warm)
        if host is not None:
            host.use(deadline - end)  # a look at the host's speed, inside the hold (or after a late step)
        if end >= deadline:
            return Paced(out, max(0.0, end - on_time), factor)
        self._holder().until(deadline)
        return Paced(out, 0.0, factor)

    def _learn(self, key: Hashable, share: float) -> None:
        share = min(1.0, share)
        known = self._warm_share.get(key)
        self._warm_share[key] = share if known is None else known + WARM_SHARE_STEP * (share - known)

    def _device_s(self, cpu_s: float) -> float:
        """The device's time for a step that took `cpu_s` of CPU (or wall) time on this host now."""
        return (self.host.nominal_work(cpu_s) if self.host is not None else cpu_s) / self.speed

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
