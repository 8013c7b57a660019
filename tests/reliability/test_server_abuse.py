"""Abuse a real tier server process can take: lying frame lengths by the thousand, hundreds of
half-open connections. Memory and threads stay bounded and correct clients keep being served.

(Single malformed, truncated, oversized and slowloris frames, and the token off loopback, are
in tests/tiers/test_server.py.)
"""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from edgewise.tiers import transport, wire
from edgewise.tiers.client import TierClient
from edgewise.tiers.spec import Placement, route_for
from tests.reliability.helpers import IMAGE_SPEC, ServerProcess, linear_onnx, png_bytes

READ_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = linear_onnx(tmp_path_factory.mktemp("abuse") / "linear.onnx")
    with ServerProcess("--max-frame-mb", "4", "--read-timeout-s", str(READ_TIMEOUT_S)) as proc:
        with TierClient({"mobile": proc.address}, timeout_s=10) as client:
            client.load("mobile", "img", model, "full", IMAGE_SPEC)
        yield proc


def _infer(server: ServerProcess) -> np.ndarray:
    with TierClient({"mobile": server.address}, timeout_s=10) as client:
        return client.infer(route_for(Placement.parse("mobile")), "img", png_bytes(5)).logits


def _connect(server: ServerProcess) -> socket.socket:
    host, port = server.address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=5)


def test_oversized_lengths_by_the_thousand_allocate_nothing(server):
    """A frame claiming a huge body is refused from its prefix: no buffer of that size is ever made."""
    expected = _infer(server)
    rss_start = server.rss_mb()
    claims = [(10, 2**40), (10, 2**64 - 1), (wire.MAX_HEADER + 1, 0), (2**32 - 1, 2**63), (100, 5 * 2**20)]
    refused = 0
    for i in range(2000):
        header_len, body_len = claims[i % len(claims)]
        with _connect(server) as sock:
            sock.sendall(wire.PREFIX.pack(wire.MAGIC, wire.VERSION, 0, header_len, body_len) + b"{" * 64)
            reply = transport.read_frame(sock, timeout_s=5)
            assert reply is not None and reply.type == "ERROR" and reply.meta["close"], reply
            refused += 1
    assert refused == 2000
    assert server.rss_mb() - rss_start < 16, (rss_start, server.rss_mb())
    np.testing.assert_array_equal(_infer(server), expected)


def test_hundreds_of_half_open_connections_are_cut_off_and_others_still_served(server):
    """200 connections that start a frame and stall: each is closed after the read timeout, while a
    correct client is answered meanwhile; the server's threads and memory return to their level."""
    expected = _infer(server)
    threads_start, rss_start = server.status("Threads"), server.rss_mb()
    partial = wire.encode(wire.Frame("PING"))[0][:7]
    stalled = []
    for _ in range(200):
        sock = _connect(server)
        sock.sendall(partial)
        stalled.append(sock)
    try:
        t0 = time.monotonic()
        np.testing.assert_array_equal(_infer(server), expected)  # served while 200 connections stall
        assert time.monotonic() - t0 < READ_TIMEOUT_S * 2
        assert server.status("Threads") <= threads_start + 200 + 2
        for sock in stalled:
            reply = transport.read_frame(sock, timeout_s=READ_TIMEOUT_S + 5, idle_timeout_s=READ_TIMEOUT_S + 5)
            assert reply is not None and reply.type == "ERROR" and "too slowly" in reply.meta["message"]
    finally:
        for sock in stalled:
            sock.close()
    deadline = time.monotonic() + 5
    while server.status("Threads") > threads_start + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.status("Threads") <= threads_start + 2
    assert server.rss_mb() - rss_start < 32, (rss_start, server.rss_mb())


def test_connections_beyond_the_limit_are_refused_not_queued(server):
    """Silent connections past max_connections (256) are closed at once; when they go, service resumes."""
    idle = [_connect(server) for _ in range(300)]
    try:
        time.sleep(0.5)
        closed = 0
        for sock in idle:
            sock.settimeout(0.05)
            try:
                closed += sock.recv(1) == b""
            except TimeoutError:
                pass
            except ConnectionResetError:
                closed += 1
        assert closed >= 300 - 256, closed
        assert server.status("Threads") < 256 + 16
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            _infer(server)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert server.alive()
