"""Partition: the auto cut's estimate against measured head + transfer + tail for several cuts.

For each cut the head and tail are timed afresh (1 thread, 30 runs, medians), scaled to the
placement's tiers, and the transfer over the links is added: does auto land within 10% of the best?
Usage: python benchmarks/bench_partition.py [subject] [placement]    (default: resnet or tiny-cnn, mobile-edge)
Writes benchmarks/results/bench_partition.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import onnx

from edgewise.building.artifacts import ArtifactCache
from edgewise.config import TestbedConfig
from edgewise.onnxgraph import GraphIndex, enumerate_cuts, make_session, median_latency, observe_tensors, split_model
from edgewise.onnxgraph.tensors import tensor_infos
from edgewise.operators import BuildContext, get_operator
from edgewise.operators.chain import build_step, root_artifact
from edgewise.operators.partition import _route_links, _tier_seconds, _transfer_seconds
from edgewise.subjects import SUBJECTS, SubjectContext, get_subject
from edgewise.subjects.base import _load_builtins
from edgewise.tiers.spec import Placement

CACHE = Path(".edgewise-cache")


def main(args: list[str]) -> None:
    import torch

    torch.set_num_threads(1)
    _load_builtins()
    name = args[0] if args else ("resnet" if "resnet" in SUBJECTS else "tiny-cnn")
    placement = Placement.parse(args[1] if len(args) > 1 else "mobile-edge")
    testbed = TestbedConfig()
    subject = get_subject(name, SubjectContext(cache_dir=CACHE))
    cache = ArtifactCache(CACHE / "artifacts")
    make = lambda wd: BuildContext(subject, wd or Path("."), placement=placement, tiers=testbed.tier_specs(),  # noqa: E731
                                   links=testbed.link_specs())
    root = root_artifact(subject, cache)
    auto = build_step(get_operator("partition"), root, cache, make)
    ctx = make(None)
    head_tier, tail_tier = (ctx.tiers[t] for t in placement.tiers)
    links = _route_links(ctx)
    model = onnx.load(str(root.onnx))
    cuts = enumerate_cuts(GraphIndex.of(model), 3)
    chosen = [c for c in cuts if list(c.tensors) == auto.meta["cut"]]
    others = [cuts[round(i * (len(cuts) - 1) / 7)] for i in range(8)]
    sample = [subject.splits().calibration.batch(slice(i, i + 1)) for i in range(4)]
    infos = tensor_infos(observe_tensors(model, sample, sorted({t for c in cuts for t in c.tensors})))
    rows = []
    for cut in {c.tensors: c for c in chosen + others}.values():
        head, tail = split_model(model, cut.tensors, infos)
        hs, ts = make_session(head.SerializeToString()), make_session(tail.SerializeToString())
        mids = [{**f, **dict(zip([o.name for o in hs.get_outputs()], hs.run(None, {i.name: f[i.name] for i in hs.get_inputs()})))}
                for f in sample]
        nbytes = sum(infos[t].nbytes for t in cut.tensors)
        head_s = _tier_seconds(median_latency(hs, sample, 30), head_tier)
        tail_s = _tier_seconds(median_latency(ts, mids, 30), tail_tier)
        rows.append({"cut": list(cut.tensors), "position": cut.position, "bytes": nbytes, "head_ms": head_s * 1e3,
                     "transfer_ms": _transfer_seconds(nbytes, links, ctx) * 1e3, "tail_ms": tail_s * 1e3,
                     "auto": list(cut.tensors) == auto.meta["cut"]})
        rows[-1]["total_ms"] = rows[-1]["head_ms"] + rows[-1]["transfer_ms"] + rows[-1]["tail_ms"]
    rows.sort(key=lambda r: r["position"])
    best = min(r["total_ms"] for r in rows)
    auto_measured = next(r["total_ms"] for r in rows if r["auto"])
    print(f"{subject.name} on {placement.name}: auto cut {auto.meta['cut']} estimated {auto.meta['estimate']['total_s'] * 1e3:.2f} ms")
    print(f"{'pos':>5}{'bytes':>10}{'head ms':>9}{'xfer ms':>9}{'tail ms':>9}{'total':>9}  cut")
    for r in rows:
        print(f"{r['position']:>5}{r['bytes']:>10}{r['head_ms']:>9.2f}{r['transfer_ms']:>9.2f}{r['tail_ms']:>9.2f}"
              f"{r['total_ms']:>9.2f}  {'*' if r['auto'] else ' '} {'+'.join(r['cut'])[:60]}")
    within = auto_measured <= 1.1 * best
    print(f"auto measured {auto_measured:.2f} ms, best measured {best:.2f} ms: within 10%: {within}")
    out = Path(__file__).parent / "results" / "bench_partition.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"subject": subject.name, "placement": placement.name, "auto": auto.meta["cut"],
                               "auto_estimate_ms": auto.meta["estimate"]["total_s"] * 1e3, "auto_measured_ms": auto_measured,
                               "best_measured_ms": best, "within_10_percent": within, "rows": rows}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
