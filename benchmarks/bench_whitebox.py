"""White-box operators (qat, prune 0.5 structured, distill) on the built-in subjects, quick profile.

For each subject: build time of each operator, accuracy drop against the teacher on the whole
evaluation split, and ONNX Runtime speed-up (1 thread, spinning off, batch 1: the edge tier's
CPU) from medians of runs in alternating blocks (session_latency.py), checked against the
acceptance targets:
  distill >= 2x faster, drop <= 3 points; prune >= 1.5x, drop <= 2 points; qat faster, drop <= 1.

Usage: python benchmarks/bench_whitebox.py [subject ...]   (default: resnet resnext bert roberta that exist)
Writes benchmarks/results/whitebox.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from edgewise.building.artifacts import ArtifactCache
from edgewise.measure.accuracy import evaluate
from edgewise.operators import BuildContext, get_operator
from edgewise.operators.chain import build_step, root_artifact
from edgewise.sla import within
from edgewise.subjects import SUBJECTS, SubjectContext, get_subject
from edgewise.subjects.base import _load_builtins
from edgewise.whitebox.measure import latency_ms

CACHE = Path(".edgewise-cache")
RESULTS = Path(__file__).parent / "results" / "whitebox.json"
WANTED = ("resnet", "resnext", "bert", "roberta")
# operator -> (minimum speed-up, maximum accuracy drop in points); qat only needs to be faster.
TARGETS = {"distill": (2.0, 3.0), "prune": (1.5, 2.0), "qat": (1.0, 1.0)}


def bench_subject(name: str, cache: ArtifactCache) -> list[dict]:
    subject = get_subject(name, SubjectContext(cache_dir=CACHE, log=lambda m: None))
    start = time.time()
    root = root_artifact(subject, cache, log=lambda m: None)
    print(f"{name}: teacher ready in {time.time() - start:.0f} s", flush=True)
    metric = subject.metrics[0]
    evaluation = subject.splits().evaluation
    teacher_acc = evaluate(root.parts, evaluation, subject.metrics, threads=1)[0][metric]
    built = {}
    for op_name in TARGETS:
        start = time.time()
        art = build_step(get_operator(op_name), root, cache,
                         lambda wd: BuildContext(subject, wd or Path("."), profile="quick", log=lambda m: None))
        built[op_name] = (art, time.time() - start)
        print(f"{name}: {op_name} built in {built[op_name][1]:.0f} s", flush=True)
    example = evaluation.batch(slice(0, 1))
    times = latency_ms([root.onnx] + [built[op][0].onnx for op in TARGETS], example, runs=100)
    rows = []
    for (op_name, (art, seconds)), ms in zip(built.items(), times[1:]):
        acc = evaluate(art.parts, evaluation, subject.metrics, threads=1)[0][metric]
        min_speedup, max_drop = TARGETS[op_name]
        speedup = times[0] / ms
        drop = 100 * (teacher_acc - acc)
        rows.append({"subject": name, "operator": op_name, "metric": metric, "teacher": round(teacher_acc, 4),
                     "accuracy": round(acc, 4), "drop_points": round(drop, 2), "teacher_ms": times[0], "ms": ms,
                     "speedup": round(speedup, 3), "build_s": round(seconds, 1),
                     "meets_target": bool(speedup >= min_speedup and (op_name != "qat" or speedup > 1.0)
                                          and within(drop, max_drop)),
                     "target": f">= {min_speedup}x, drop <= {max_drop} points", "meta": art.meta})
    return rows


def main(names: list[str]) -> None:
    import torch

    torch.set_num_threads(1)
    _load_builtins()
    names = names or [n for n in WANTED if n in SUBJECTS]
    cache = ArtifactCache(CACHE / "artifacts")
    rows = []
    for name in names:
        rows += bench_subject(name, cache)
    header = f"{'subject':9} {'operator':8} {'teacher':>8} {'after':>8} {'drop pt':>8} {'ms fp32':>8} {'ms':>8} {'speedup':>8} {'build s':>8}  target"
    print(header)
    for r in rows:
        print(f"{r['subject']:9} {r['operator']:8} {r['teacher']:8.4f} {r['accuracy']:8.4f} {r['drop_points']:8.2f} "
              f"{r['teacher_ms']:8.3f} {r['ms']:8.3f} {r['speedup']:8.2f} {r['build_s']:8.1f}  "
              f"{'met' if r['meets_target'] else 'MISSED'} ({r['target']})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"profile": "quick", "ort_threads": 1, "rows": rows}, indent=1, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
