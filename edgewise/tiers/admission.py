"""Admission to a tier's compute: a bounded FIFO queue in front of a single compute worker.

A device runs one inference at a time on its thread budget; requests that arrive meanwhile wait.
The tier server hands every request's compute (preprocessing and the model run) to this worker, so
a 1-thread tier serves one request at a time however many connections are open, reports how long
each request waited apart from how long it computed, and answers "busy" when the queue is full
instead of holding an unbounded backlog in memory.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from edgewise.errors import ServerError
from edgewise.tiers.host import proc_field_mb

T = TypeVar("T")
DEFAULT_QUEUE_DEPTH = 32  # waiting requests per tier; the one computing is not counted


class Busy(ServerError):
    """The tier's queue is full: the request was not served. Send it again later, or offer less load."""

    def __init__(self, tier: str, depth: int):
        self.tier = tier
        super().__init__(f"tier {tier} is busy ({depth} requests already queued)",
                         "offer fewer requests per second, or give the tier a deeper queue (--queue-depth)")


@dataclass
class _Job:
    work: Callable[[], Any]
    enqueued: float
    done: threading.Event = field(default_factory=threading.Event)
    queued_s: float = 0.0
    result: Any = None
    error: BaseException | None = None


class Admission:
    """One worker thread runs the jobs of a bounded queue in arrival order."""

    def __init__(self, tier: str, depth: int = DEFAULT_QUEUE_DEPTH):
        if depth < 1:
            raise ServerError(f"queue depth {depth} must be at least 1", "pass --queue-depth 1 or more")
        self.tier, self.depth = tier, depth
        self.busy_replies = 0
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=depth)
        self._worker = threading.Thread(target=self._work, name=f"compute-{tier}", daemon=True)
        self._worker.start()

    def run(self, work: Callable[[], T]) -> tuple[T, float]:
        """Run `work` on the worker; returns its result and the seconds it waited in the queue.

        Raises Busy at once when the queue is full; re-raises what `work` raised."""
        job = _Job(work, time.perf_counter())
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.busy_replies += 1
            raise Busy(self.tier, self.depth) from None
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result, job.queued_s

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def stop(self) -> None:
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass  # daemon worker: it ends with the process

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            job.queued_s = time.perf_counter() - job.enqueued
            try:
                job.result = job.work()
            except BaseException as exc:  # noqa: BLE001 - handed back to the request's own thread
                job.error = exc
            finally:
                job.done.set()


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
