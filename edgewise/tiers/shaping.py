"""A link's shape as its sender keeps it, at the message level: wait the one-way delay before sending a
frame (this kernel has no netem), and on a modelled link (the local testbed) pace the bytes through a token
bucket shared by every connection of that direction."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


class TokenBucket:
    """Paces bytes at `rate_bps`, shared by every connection on one direction of a link."""

    def __init__(self, rate_bps: float, burst_bytes: int = 16 * 1024):
        self.rate = rate_bps / 8.0  # bytes per second
        self.burst = burst_bytes
        self.tokens = float(burst_bytes)
        self.stamp = time.perf_counter()
        self.lock = threading.Lock()

    def take(self, n: int) -> None:
        with self.lock:
            now = time.perf_counter()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            self.tokens -= n
            wait = -self.tokens / self.rate if self.tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)


@dataclass
class LinkShape:
    """What the sender does on one direction of a link: wait `delay_s`, pace at `rate_mbit` if modelled."""

    delay_s: float = 0.0
    rate_mbit: float | None = None  # None: the kernel shapes the rate (tbf), or the link is real
    bucket: TokenBucket | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.rate_mbit and self.bucket is None:
            self.bucket = TokenBucket(self.rate_mbit * 1e6)

    def to_dict(self) -> dict[str, float | None]:
        return {"delay_s": self.delay_s, "rate_mbit": self.rate_mbit}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LinkShape":
        return cls(float(data.get("delay_s", 0.0)), data.get("rate_mbit"))


NO_SHAPE = LinkShape()
