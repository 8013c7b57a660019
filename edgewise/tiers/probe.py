"""Link measurements made with ECHO frames: round-trip time and goodput in each direction.

The echo runs in user space over the same persistent TCP connection and the same message-level
delayer as inference traffic, so it measures what a request sees (ping would not see the delay).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from edgewise.tiers.peers import PeerPool
from edgewise.tiers.wire import Frame


def echo_frame(token: str | None, sender: str, send_bytes: int = 0, reply_bytes: int = 0) -> Frame:
    """An echo; `sender` names the link the reply goes back on, so the peer shapes it."""
    blobs = {"payload": np.zeros(send_bytes, np.uint8)} if send_bytes else {}
    return Frame("ECHO", {"token": token, "from": sender, "reply_bytes": reply_bytes}, blobs)


def measure_rtt(pool: PeerPool, token: str | None, sender: str, count: int = 10) -> dict[str, float]:
    """Median and spread of `count` empty echoes after one warm-up."""
    pool.exchange(echo_frame(token, sender))
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        pool.exchange(echo_frame(token, sender))
        samples.append(time.perf_counter() - t0)
    # Jitter as RFC 3550 reads it: the mean difference between consecutive round trips.
    jitter = statistics.fmean(abs(b - a) for a, b in zip(samples, samples[1:])) if len(samples) > 1 else 0.0
    return {"rtt_ms": statistics.median(samples) * 1e3, "rtt_min_ms": min(samples) * 1e3,
            "rtt_max_ms": max(samples) * 1e3, "jitter_ms": jitter * 1e3}


def measure_goodput(pool: PeerPool, token: str | None, sender: str, nbytes: int, rtt_s: float,
                    repeats: int = 3) -> dict[str, float]:
    """Application goodput (Mbit/s) of an `nbytes` transfer up (to the peer) and down, after a warm-up:
    the median of `repeats` transfers each way, so that one scheduling hiccup of a busy host does
    not pass for the link's rate.

    One RTT is taken off each transfer time: it is the echo's own request/acknowledgement, not the
    link's rate.
    """
    warm = max(16 * 1024, nbytes // 8)
    pool.exchange(echo_frame(token, sender, send_bytes=warm))
    pool.exchange(echo_frame(token, sender, reply_bytes=warm))
    out = {}
    for direction, frame in (("up", echo_frame(token, sender, send_bytes=nbytes)), ("down", echo_frame(token, sender, reply_bytes=nbytes))):
        rates = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            pool.exchange(frame)
            elapsed = max(time.perf_counter() - t0 - rtt_s, 1e-6)
            rates.append(nbytes * 8 / elapsed / 1e6)
        out[f"{direction}_mbit"] = statistics.median(rates)
    return out
