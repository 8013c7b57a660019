"""Admission to a tier's compute: one request computes at a time, the others wait in a bounded FIFO.

A device runs one inference at a time on its thread budget; requests that arrive meanwhile wait.
Every request's compute (preprocessing and the model run) passes through here, so a 1-thread tier
serves one request at a time however many connections are open, reports how long each request
waited apart from how long it computed, and answers "busy" when the queue is full instead of
holding an unbounded backlog in memory.

The compute runs on the request's own thread: a request that finds the tier idle starts at once,
with no hand-off to another thread and back (two wake-ups, tens of microseconds each), and a
finishing request hands the tier to the first waiter directly.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from typing import Any, Callable, TypeVar

from edgewise.errors import ServerError
from edgewise.tiers.host import proc_field_mb
from edgewise.tiers.wire import BUSY

T = TypeVar("T")
DEFAULT_QUEUE_DEPTH = 32  # waiting requests per tier; the one computing is not counted


class Busy(ServerError):
    """The tier's queue is full: the request was not served. Send it again later, or offer less load."""

    wire_code = BUSY  # what the ERROR frame says, which the client turns into TierBusy

    def __init__(self, tier: str, depth: int):
        self.tier = tier
        super().__init__(f"tier {tier} is busy ({depth} requests already queued)",
                         "offer fewer requests per second, or give the tier a deeper queue (--queue-depth)")


class Admission:
    """One compute at a time, in arrival order, with at most `depth` requests waiting."""

    def __init__(self, tier: str, depth: int = DEFAULT_QUEUE_DEPTH):
        if depth < 1:
            raise ServerError(f"queue depth {depth} must be at least 1", "pass --queue-depth 1 or more")
        self.tier, self.depth = tier, depth
        self.busy_replies = 0
        self._lock = threading.Lock()
        self._computing = False
        self._waiting: deque[threading.Event] = deque()  # each waiter's turn, in arrival order

    def run(self, work: Callable[..., T], *args: Any) -> tuple[T, float]:
        """Run `work(*args)` once the tier is free; returns its result and the seconds it waited.

        Raises Busy at once when the queue is full; re-raises what `work` raised."""
        arrived = time.perf_counter()
        turn = None
        with self._lock:
            if not self._computing:
                self._computing = True
            elif len(self._waiting) >= self.depth:
                self.busy_replies += 1
                raise Busy(self.tier, self.depth)
            else:
                turn = threading.Event()
                self._waiting.append(turn)
        if turn is not None:
            turn.wait()  # set by the request before it, which hands the tier over still marked computing
        queued_s = time.perf_counter() - arrived if turn is not None else 0.0
        try:
            return work(*args), queued_s
        finally:
            with self._lock:
                if self._waiting:
                    self._waiting.popleft().set()
                else:
                    self._computing = False

    @property
    def queued(self) -> int:
        return len(self._waiting)


def peak_rss_mb() -> float:
    """This process's peak resident set since it started or since the last reset_peak_rss()."""
    peak = proc_field_mb("/proc/self/status", "VmHWM")
    return float("nan") if peak is None else peak


def reset_peak_rss() -> bool:
    """Start a new peak (Linux: writing 5 to clear_refs resets VmHWM to the current RSS)."""
    try:
        with open(f"/proc/{os.getpid()}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False
