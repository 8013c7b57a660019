"""Load on one tier server: 16 concurrent clients for 60 s on loopback, RSS sampled every second.

Usage: python benchmarks/bench_load.py [--seconds 60] [--clients 16]
The server is a real `python -m edgewise.tiers.server` process serving tiny-cnn (image decoding
+ ONNX Runtime, 1 intra-op thread) with warm sessions; each client sends encoded images back to
back on its own persistent connection. Writes benchmarks/results/bench_load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from edgewise.building.artifacts import ArtifactCache
from edgewise.operators.chain import root_artifact
from edgewise.subjects import SubjectContext, get_subject
from edgewise.testbeds.processes import TierProcess
from edgewise.tiers.client import TierClient
from edgewise.tiers.spec import Placement, route_for

CACHE = Path(".edgewise-cache")
RESULTS = Path(__file__).parent / "results" / "bench_load.json"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Client(threading.Thread):
    """Sends requests back to back until `stop`; keeps every latency and every error."""

    def __init__(self, address: str, payloads: list[bytes], stop: threading.Event, expected: np.ndarray):
        super().__init__(daemon=True)
        self.address, self.payloads, self.stop, self.expected = address, payloads, stop, expected
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        route = route_for(Placement.parse("mobile"))
        with TierClient({"mobile": self.address}, timeout_s=30) as client:
            while not self.stop.is_set():
                t0 = time.perf_counter()
                try:
                    logits = client.infer(route, "cnn", self.payloads[0]).logits
                except Exception as exc:  # counted, not raised: the benchmark reports errors
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                self.latencies.append(time.perf_counter() - t0)
                if not np.allclose(logits, self.expected, atol=1e-5):
                    self.errors.append("wrong logits")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()

    subject = get_subject("tiny-cnn", SubjectContext(cache_dir=CACHE / "subjects", log=lambda m: None))
    artifact = root_artifact(subject, ArtifactCache(CACHE / "artifacts"), log=lambda m: None)
    payloads = subject.latency_inputs(1)
    workdir = Path(tempfile.mkdtemp(prefix="edgewise-bench-"))  # the server's log and received models
    server = TierProcess("mobile", "127.0.0.1:0", workdir / "mobile.log", threads=1)
    try:
        address = server.start()
        with TierClient({"mobile": address}) as loader:
            loader.load("mobile", "cnn", artifact.onnx, "full", subject.preprocessing())
            expected = loader.infer(route_for(Placement.parse("mobile")), "cnn", payloads[0]).logits
        stop = threading.Event()
        clients = [Client(address, payloads, stop, expected) for _ in range(args.clients)]
        rss = [rss_mb(server.pid)]
        t0 = time.monotonic()
        for c in clients:
            c.start()
        while time.monotonic() - t0 < args.seconds:
            time.sleep(1.0)
            rss.append(rss_mb(server.pid))
        stop.set()
        for c in clients:
            c.join(60)
        elapsed = time.monotonic() - t0
        alive = server.exit_code() is None
    finally:
        server.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    latencies = np.array([x for c in clients for x in c.latencies])
    errors = [e for c in clients for e in c.errors]
    row = {
        "clients": args.clients, "seconds": round(elapsed, 1), "requests": int(latencies.size),
        "requests_per_s": latencies.size / elapsed, "p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "p99_ms": float(np.percentile(latencies, 99) * 1e3), "errors": len(errors), "error_kinds": sorted(set(errors))[:5],
        "min_client_requests": min(len(c.latencies) for c in clients), "server_alive": alive,
        "rss_mb": {"start": rss[0], "max": max(rss), "end": rss[-1]}, "rss_samples_mb": [round(r, 1) for r in rss],
        "host": {"cpus": os.cpu_count(), "machine": platform.machine()},
    }
    print(f"{'clients':>8} {'seconds':>8} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
          f"{'RSS start/max/end MB':>22}")
    print(f"{row['clients']:>8} {row['seconds']:>8} {row['requests']:>9} {row['requests_per_s']:>8.1f} "
          f"{row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['errors']:>7} "
          f"{rss[0]:>7.1f}/{max(rss):.1f}/{rss[-1]:.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(row, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
