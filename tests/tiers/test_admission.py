"""A tier serves one request at a time from a bounded queue, says "busy" when it is full, and
reports queueing apart from compute."""

from __future__ import annotations

import threading

import pytest

from edgewise.tiers.admission import Admission, Busy, peak_rss_mb, reset_peak_rss
from edgewise.tiers.client import TierBusy, TierClient
from edgewise.tiers.peers import PeerPool
from edgewise.tiers.server import ServerConfig, TierServer
from edgewise.tiers.spec import Placement, route_for
from edgewise.tiers.wire import Frame


def test_one_worker_serves_in_arrival_order_and_refuses_beyond_its_depth():
    admission = Admission("edge", depth=2)
    gate, started, order = threading.Event(), threading.Event(), []

    def blocked():
        started.set()
        gate.wait()
        return "first"

    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", admission.run(blocked)))
    first.start()
    started.wait()
    waiting = [threading.Thread(target=lambda i=i: results.setdefault(i, admission.run(lambda: order.append(i) or i)))
               for i in range(2)]
    for t in waiting:
        t.start()
    while admission.queued < 2:
        threading.Event().wait(0.001)
    with pytest.raises(Busy, match="edge is busy"):
        admission.run(lambda: None)
    threading.Event().wait(0.05)
    gate.set()
    for t in (first, *waiting):
        t.join(5)
    assert results["first"][0] == "first" and order == [0, 1]
    assert results[0][1] >= 0.05 and results[1][1] >= 0.05  # queued while the first ran
    assert admission.busy_replies == 1


def test_worker_hands_errors_back():
    admission = Admission("edge", depth=1)
    with pytest.raises(ZeroDivisionError):
        admission.run(lambda: 1 / 0)
    assert admission.run(lambda: 7)[0] == 7


def test_concurrent_requests_queue_behind_one_compute_and_the_breakdown_says_so(tiny_cnn, cnn_artifact):
    server = TierServer(ServerConfig(tier="mobile", read_timeout_s=2.0)).start()
    try:
        # Two synthetic requests of 0.2 s sent together: one computes, the other waits for it.
        replies = []
        threads = [threading.Thread(target=lambda: replies.append(
            PeerPool(server.address).exchange(Frame("ECHO", {"work_s": 0.2})).meta)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        waits = sorted(r["queue_s"] for r in replies)
        assert waits[0] < 0.1 and 0.15 < waits[1] < 1.0 and all(r["compute_s"] >= 0.2 for r in replies)
        with TierClient({"mobile": server.address}) as client:
            client.load("mobile", "cnn", cnn_artifact.onnx, "full", tiny_cnn.preprocessing())
            result = client.infer(route_for(Placement.parse("mobile")), "cnn", tiny_cnn.latency_inputs(1)[0])
        assert "queue:mobile" in result.breakdown and "compute:mobile" in result.breakdown
        assert result.breakdown["queue:mobile"] < result.total_s
    finally:
        server.stop()


def test_a_full_queue_gets_an_explicit_busy_reply(tiny_cnn, cnn_artifact):
    server = TierServer(ServerConfig(tier="mobile", read_timeout_s=2.0, queue_depth=1)).start()
    try:
        holders = [threading.Thread(target=lambda: PeerPool(server.address).exchange(Frame("ECHO", {"work_s": 0.5})))
                   for _ in range(2)]
        for t in holders:
            t.start()
            threading.Event().wait(0.1)  # the first computes, the second fills the one queue slot
        with TierClient({"mobile": server.address}) as client:
            client.load("mobile", "cnn", cnn_artifact.onnx, "full", tiny_cnn.preprocessing())
            with pytest.raises(TierBusy, match="mobile is busy"):
                client.infer(route_for(Placement.parse("mobile")), "cnn", tiny_cnn.latency_inputs(1)[0])
            for t in holders:
                t.join(10)
            assert client.ping("mobile")["busy_replies"] == 1
            assert client.infer(route_for(Placement.parse("mobile")), "cnn", tiny_cnn.latency_inputs(1)[0]).logits.size
    finally:
        server.stop()


def test_peak_rss_can_be_reset():
    block = bytearray(64 * 2**20)
    block[::4096] = b"x" * len(block[::4096])
    high = peak_rss_mb()
    del block
    if not reset_peak_rss():
        pytest.skip("this kernel does not let a process reset its peak RSS")
    assert peak_rss_mb() < high - 32
