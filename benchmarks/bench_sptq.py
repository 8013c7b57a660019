"""SPTQ speed-up over fp32 (ONNX Runtime, 1 thread: the edge tier's CPU) and accuracy drop per subject.

SPTQ picks its variant by measurement at build time (sptq_candidates.py); the table shows the
variant each subject got. Targets (speed-up at <= 1 point drop): bert 2.0x, roberta 1.4x,
resnet 3.4x, resnext 1.65x; other subjects 1.5x.

Usage: python benchmarks/bench_sptq.py [subject ...]   (default: the built-in subjects that exist, else tiny ones)
Writes benchmarks/results/bench_sptq.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from edgewise.building.artifacts import ArtifactCache
from edgewise.onnxgraph import make_session
from edgewise.operators import BuildContext, get_operator
from edgewise.operators.chain import build_step, root_artifact
from edgewise.subjects import SUBJECTS, SubjectContext, get_subject, score
from edgewise.subjects.base import _load_builtins
from edgewise.tiers.session_latency import interleaved_latency

CACHE = Path(".edgewise-cache")
WANTED = ("resnet", "resnext", "bert", "roberta")
TARGETS = {"bert": 2.0, "roberta": 1.4, "resnet": 3.4, "resnext": 1.65}
DEFAULT_TARGET = 1.5


def accuracy(parts, subject) -> float:
    session = make_session(parts[0])
    split = subject.splits().evaluation
    logits = np.concatenate([session.run(None, batch)[0] for batch, _ in split.batches(64)])
    return score(subject.metrics, logits, split.labels)[0][subject.metrics[0]]


def main(names: list[str]) -> None:
    import torch

    torch.set_num_threads(1)
    _load_builtins()
    names = names or [n for n in WANTED if n in SUBJECTS] or ["tiny-cnn", "tiny-bert"]
    cache = ArtifactCache(CACHE / "artifacts")
    rows = []
    for name in names:
        subject = get_subject(name, SubjectContext(cache_dir=CACHE))
        root = root_artifact(subject, cache)
        t0 = time.perf_counter()
        art = build_step(get_operator("sptq"), root, cache, lambda wd: BuildContext(subject, wd or Path(".")))
        build_s = time.perf_counter() - t0
        feeds = [subject.splits().evaluation.batch(slice(i, i + 1)) for i in range(16)]
        fp32, int8 = interleaved_latency([make_session(root.onnx), make_session(art.onnx)], feeds, 60)
        before, after = accuracy(root.parts, subject), accuracy(art.parts, subject)
        rows.append({"subject": name, "fp32_ms": fp32 * 1e3, "int8_ms": int8 * 1e3, "speedup": fp32 / int8,
                     "metric": subject.metrics[0], "fp32_acc": before, "int8_acc": after, "drop_points": 100 * (before - after),
                     "target": TARGETS.get(name, DEFAULT_TARGET),
                     "meets_target": fp32 / int8 >= TARGETS.get(name, DEFAULT_TARGET) and 100 * (before - after) <= 1.0,
                     "variant": art.meta.get("choice", {}).get("label"), "reason": art.meta.get("choice", {}).get("reason"),
                     "candidates": [{k: c[k] for k in ("label", "latency_ms", "incumbent_ms", "drop_points", "verdict", "error")}
                                    for c in art.meta.get("candidates", [])],
                     "build_s": build_s, "build_cached": build_s < 1.0})
    print(f"{'subject':<12}{'fp32 ms':>9}{'int8 ms':>9}{'speedup':>9}{'fp32 acc':>10}{'int8 acc':>10}{'drop pt':>9}  target  variant")
    for r in rows:
        print(f"{r['subject']:<12}{r['fp32_ms']:>9.2f}{r['int8_ms']:>9.2f}{r['speedup']:>9.2f}{r['fp32_acc']:>10.4f}"
              f"{r['int8_acc']:>10.4f}{r['drop_points']:>9.2f}  {r['target']:.2f}x {'met' if r['meets_target'] else 'missed'}"
              f"  {r['variant']}")
    out = Path(__file__).parent / "results" / "bench_sptq.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"threads": 1, "rows": rows}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
