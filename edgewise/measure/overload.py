"""Overload of one tier server process: offered at `factor` x the rate it sustains, for a bounded time.

Used by the overload test (a few seconds) and benchmarks/bench_overload.py (30 s). The tier is a
real `python -m edgewise.tiers.server` process; its requests are real tiny-cnn inferences (image
decoding + ONNX Runtime, one thread) or, with `work_s`, synthetic ones of known service time.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np

from edgewise.measure.load import EchoSender, offer, single_stream_service_s
from edgewise.testbeds.processes import TierProcess
from edgewise.tiers import parts
from edgewise.tiers.client import TierClient
from edgewise.tiers.spec import Placement, route_for


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def overload(workdir: Path, seconds: float, factor: float = 10.0, *, artifact=None, subject=None,
             work_s: float | None = None, max_in_flight: int = 256) -> dict:
    """Offer factor x 1/(median service time) for `seconds`; then check the tier serves normally."""
    server = TierProcess("mobile", "127.0.0.1:0", workdir / "mobile.log", threads=1)
    try:
        address = server.start()
        with TierClient({"mobile": address}, timeout_s=60) as client:
            if work_s is None:
                client.load("mobile", "cnn", artifact.onnx, "full", subject.preprocessing())
                payloads, turn = subject.latency_inputs(8), itertools.count()
                route = route_for(Placement.parse("mobile"))

                def send() -> dict[str, float]:
                    return client.infer(route, "cnn", payloads[next(turn) % len(payloads)]).breakdown
            else:
                send = EchoSender(address, work_s, tier="mobile")
            for _ in range(5):
                send()
            service = single_stream_service_s(send, 30)
            baseline = peak_rss_mb(server.pid)
            rate = factor / service
            t0 = time.perf_counter()
            outcomes = offer(send, rate, int(rate * seconds), seed=0, max_in_flight=max_in_flight)
            elapsed = time.perf_counter() - t0
            peak = peak_rss_mb(server.pid)
            after = [send() for _ in range(20)]  # right after: one at a time, as before the overload
            service_after = single_stream_service_s(send, 20)
            alive = server.exit_code() is None
    finally:
        server.kill()
    kinds = {k: sum(o.kind == k for o in outcomes) for k in ("ok", "busy", "error")}
    served = np.array([o.latency_s for o in outcomes if o.kind == "ok"])
    return {"offered_rate_per_s": rate, "factor": factor, "seconds": seconds, "elapsed_s": elapsed,
            "requests": len(outcomes), "scheduled": int(rate * seconds), **kinds,
            "served_rate_per_s": kinds["ok"] / elapsed, "service_ms_before": service * 1e3,
            "service_ms_after": service_after * 1e3,
            "queue_ms_after_max": max(v for a in after for k, v in a.items() if parts.parse(k)[0] == parts.QUEUE) * 1e3,
            "served_p50_ms": float(np.median(served) * 1e3) if served.size else None,
            "served_max_ms": float(served.max() * 1e3) if served.size else None,
            "peak_rss_mb": {"before": baseline, "during": peak}, "server_alive": alive,
            "first_error": next((o.error for o in outcomes if o.kind == "error"), None)}
