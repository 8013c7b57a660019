"""The server scenario: Poisson arrivals at the asked rate, and the search for the largest rate
a tier of known service time sustains."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.stats import kstest

from edgewise.measure.load import EchoSender, Step, find_max_rate, offer, poisson_arrivals, single_stream_service_s
from edgewise.testbeds.processes import TierProcess


def test_schedule_is_poisson_at_the_asked_rate():
    gaps = np.diff(poisson_arrivals(250.0, 5000, np.random.default_rng(1)), prepend=0.0)
    assert kstest(gaps, "expon", args=(0, 1 / 250.0)).pvalue > 0.01
    assert 1 / gaps.mean() == pytest.approx(250.0, rel=0.05)


def test_requests_leave_at_poisson_arrivals_and_do_not_wait_for_each_other():
    # Each request takes 0.2 s, ten times the mean gap: an open loop sends on schedule regardless.
    outcomes = offer(lambda: time.sleep(0.2) or {}, 50.0, 200, seed=3, max_in_flight=64)
    assert len(outcomes) == 200 and all(o.kind == "ok" for o in outcomes)
    gaps = np.diff(np.sort([o.sent_s for o in outcomes]), prepend=0.0)
    # The sends as they happened, scheduler jitter of a shared host included, are still exponential
    # at the asked rate; latency is counted from the schedule, so a late send only adds to it.
    assert kstest(gaps, "expon", args=(0, 1 / 50.0)).pvalue > 0.001
    planned = np.diff([o.scheduled_s for o in outcomes], prepend=0.0)
    assert 1 / gaps.mean() == pytest.approx(1 / planned.mean(), rel=0.05)  # the schedule's own draw, kept
    in_flight = max(sum(o.scheduled_s <= t < o.scheduled_s + o.latency_s for o in outcomes)
                    for t in (o.sent_s for o in outcomes))
    assert in_flight >= 5
    assert all(o.latency_s >= 0.2 for o in outcomes)


def test_search_finds_the_rate_a_single_worker_sustains(tmp_path):
    # A tier server process whose one worker holds each synthetic request 20 ms: long beside
    # the Python handling of a request, so the worker, not the host's CPU, is the limit.
    server = TierProcess("edge", "127.0.0.1:0", tmp_path / "edge.log", threads=1)
    try:
        sender = EchoSender(server.start(), work_s=0.02)
        service = single_stream_service_s(sender, count=20)
        limit = 1 / service  # one worker: no more than one request per service time

        def step(rate: float) -> Step:
            return Step(rate, offer(sender, rate, 200, seed=int(rate)), percentile=90, max_latency_s=15 * service)

        search = find_max_rate(step, capacity_per_s=limit, precision=0.05, start_fraction=0.88)
        sender.close()
    finally:
        server.kill()
    best = search.best
    steps = [(round(s.rate_per_s / limit, 3), s.holds) for s in search.steps]
    assert best is not None, steps
    assert 0.8 * limit <= best.rate_per_s < limit, steps
    assert best.bound.order_index <= 200 and best.bound.value <= 15 * service
    assert all(s.rate_per_s < limit for s in search.steps)  # the limit itself is never offered
    assert all(s.rate_per_s <= best.rate_per_s for s in search.steps if s.holds)
    assert search.to_dict()["max_rate_per_s"] == best.rate_per_s
