"""Overload: one tier server process offered 10x the rate it sustains for 30 s.

Usage: python benchmarks/bench_overload.py [--seconds 30] [--factor 10] [--work-ms 20 | --tiny-cnn] [--quick]
The tier (one compute worker, the default queue depth) serves synthetic requests that hold its
worker 20 ms, or with --tiny-cnn real tiny-cnn inferences (image decoding + ONNX Runtime, 1 thread;
under a millisecond each, so 10x its rate is beyond what the Python generator sends: the offered
rate is then the generator's). Poisson arrivals at factor / (median service time). Reports how
many requests got a result or an explicit busy reply (and any error), the peak RSS before and
during, and the service time right after. Writes benchmarks/results/bench_overload.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

from edgewise.building.artifacts import ArtifactCache
from edgewise.measure.overload import overload
from edgewise.operators.chain import root_artifact
from edgewise.subjects import SubjectContext, get_subject

CACHE = Path(".edgewise-cache")
RESULTS = Path(__file__).parent / "results" / "bench_overload.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--factor", type=float, default=10.0)
    parser.add_argument("--work-ms", type=float, default=20.0)
    parser.add_argument("--tiny-cnn", action="store_true", help="real tiny-cnn inferences instead")
    parser.add_argument("--quick", action="store_true", help="3 s instead of 30")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    model = {}
    if args.tiny_cnn:
        subject = get_subject("tiny-cnn", SubjectContext(cache_dir=CACHE / "subjects", log=lambda m: None))
        model = {"subject": subject, "artifact": root_artifact(subject, ArtifactCache(CACHE / "artifacts"),
                                                               log=lambda m: None)}
    workdir = Path(tempfile.mkdtemp(prefix="edgewise-bench-"))
    try:
        row = overload(workdir, seconds, args.factor, work_s=None if args.tiny_cnn else args.work_ms / 1e3, **model)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    row["host"] = {"cpus": os.cpu_count(), "machine": platform.machine(), "load_1min": os.getloadavg()[0]}
    for key in ("offered_rate_per_s", "requests", "ok", "busy", "error", "served_rate_per_s", "service_ms_before",
                "service_ms_after", "queue_ms_after_max", "peak_rss_mb", "server_alive"):
        print(f"{key:>20}: {row[key]}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(row, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
