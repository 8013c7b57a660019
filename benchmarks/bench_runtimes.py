"""Every runtime against ONNX Runtime on the built-in subjects' artifacts, one thread, batch 1.

Per subject: the fp32 model (identity) through ONNX Runtime, OpenVINO in f32 and in bf16, and
ExecuTorch (XNNPACK); the int8 model as each runtime's cells build it: ONNX Runtime's sptq (the variant
its search chose), OpenVINO's (sptq in QDQ format, also run through ONNX Runtime: one graph in both)
and ExecuTorch's own int8 form (PT2E, XNNPACK quantizer). The sessions of one precision take turns in
blocks of back-to-back runs (the order rotating per block); a figure is the median of three rounds'
medians, with their min and max. The CPU is named in the JSON.

Usage: python benchmarks/bench_runtimes.py [--quick] [subject ...]   (default: the built-in subjects whose
teachers are in .edgewise-cache, else tiny-cnn and tiny-bert). Writes benchmarks/results/bench_runtimes.json.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import cpu_name, parse_args, spread, table, write_results  # noqa: E402
from edgewise.building.artifacts import ArtifactCache  # noqa: E402
from edgewise.environment import fingerprint  # noqa: E402
from edgewise.operators import BuildContext  # noqa: E402
from edgewise.operators.chain import Chain  # noqa: E402
from edgewise.runtimes.choice import RuntimeChoice  # noqa: E402
from edgewise.runtimes.forms import build_cell  # noqa: E402
from edgewise.subjects import SUBJECTS, SubjectContext, get_subject  # noqa: E402
from edgewise.subjects.base import _load_builtins  # noqa: E402
from edgewise.subjects.teachers import teacher_missing  # noqa: E402

CACHE = Path(".edgewise-cache")
WANTED = ("resnet", "resnext", "bert", "roberta")
FP32 = ("onnxruntime", "openvino", "openvino[precision=bf16]", "executorch")
INT8 = ("onnxruntime", "openvino", "executorch")
SAME_GRAPH = "onnxruntime (openvino's graph)"  # ONNX Runtime on OpenVINO's int8 graph, where it is another


def rounds_of_blocks(runs: dict[str, callable], feeds: list, rounds: int, blocks: int, block: int) -> dict:
    """Per variant: the median of each round's per-run times, the variants taking turns block by block."""
    names = list(runs)
    per_round: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        times: dict[str, list[float]] = {n: [] for n in names}
        for b in range(blocks):
            k = (r * blocks + b) % len(names)
            for name in names[k:] + names[:k]:
                runs[name](feeds[0])  # one untimed run: the block starts from this model's cache
                for i in range(block):
                    t0 = time.perf_counter()
                    runs[name](feeds[i % len(feeds)])
                    times[name].append(time.perf_counter() - t0)
        for n in names:
            per_round[n].append(statistics.median(times[n]) * 1e3)
    return {n: spread(v) for n, v in per_round.items()}


def sessions(subject, cache, log) -> tuple[dict, dict, dict, dict]:
    """The fp32 and int8 runs of every runtime (name -> feeds -> outputs), what could not be built, and the key of
    each artifact. Each is the artifact a study's cell builds for that runtime (the same cache keys)."""
    ctx = lambda wd: BuildContext(subject, wd or Path("."), log=log)  # noqa: E731 - the build's context factory
    runs: dict[str, dict] = {"fp32": {}, "int8": {}}
    failed, keys = {}, {}
    for precision, chain, texts in (("fp32", "identity", FP32), ("int8", "sptq", INT8)):
        for text in texts:
            try:
                art = build_cell(Chain.parse(chain), text, subject, cache, ctx, {}, None, log)
                runtime = RuntimeChoice.parse(text).make()
                session = runtime.open(art.parts[0], 1, art.meta.get("io"))
            except Exception as exc:  # noqa: BLE001 - a runtime that cannot take this model is reported, not fatal
                failed[f"{text} {precision}"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                continue
            keys[f"{text} {precision}"] = art.key
            names = [i.name for i in session.inputs]
            runs[precision][text] = lambda feeds, s=session, n=names: s.run({k: feeds[k] for k in n})
            if text == "openvino" and precision == "int8" and art.key != keys.get("onnxruntime int8"):
                # OpenVINO's int8 graph is sptq built in QDQ format, an artifact of its own: ONNX Runtime runs
                # it too, so one graph is timed in both runtimes beside each runtime's own int8 model.
                ort = RuntimeChoice.parse("onnxruntime").make().open(art.parts[0], 1)
                names = [i.name for i in ort.inputs]
                runs[precision][SAME_GRAPH] = lambda feeds, s=ort, n=names: s.run({k: feeds[k] for k in n})
    return runs["fp32"], runs["int8"], failed, keys


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: p.add_argument("subjects", nargs="*"))
    import torch

    torch.set_num_threads(1)
    _load_builtins()
    log = lambda m: None  # noqa: E731
    names = args.subjects or [n for n in WANTED if n in SUBJECTS
                              and not teacher_missing(get_subject(n, SubjectContext(cache_dir=CACHE, log=log)))]
    names = names or ["tiny-cnn", "tiny-bert"]
    blocks, block = (3, 5) if args.quick else (8, 10)
    cache = ArtifactCache(CACHE / "artifacts")
    results, rows = [], []
    for name in names:
        subject = get_subject(name, SubjectContext(cache_dir=CACHE, log=log))
        feeds = [subject.splits().evaluation.batch(slice(i, i + 1)) for i in range(8)]
        fp32, quant, failed, keys = sessions(subject, cache, log)
        figures = {"fp32": rounds_of_blocks(fp32, feeds, 3, blocks, block),
                   "int8": rounds_of_blocks(quant, feeds, 3, blocks, block)}
        entry = {"subject": name, "ms": figures, "failed": failed, "artifacts": keys}
        for precision, found in figures.items():
            base = found.get("onnxruntime", {}).get("median")
            entry.setdefault("vs_onnxruntime", {})[precision] = {r: base / f["median"] for r, f in found.items()} \
                if base else {}
            for runtime, f in found.items():
                ratio = base / f["median"] if base else float("nan")
                rows.append([name, precision, runtime, f"{f['median']:.2f}", f"{f['min']:.2f}-{f['max']:.2f}",
                             f"{ratio:.2f}x"])
        for what, why in failed.items():
            rows.append([name, what.split()[1], what.split()[0], "failed", why[:60], ""])
        results.append(entry)
    print(f"CPU: {cpu_name()}, 1 thread, batch 1; median of 3 rounds (min-max)")
    print(table(["subject", "precision", "runtime", "median ms", "rounds", "vs ORT"], rows))
    path = write_results("bench_runtimes", {"cpu": cpu_name(), "threads": 1, "batch": 1, "rounds": 3,
                                            "blocks_per_round": blocks, "runs_per_block": block,
                                            "environment": fingerprint("local"), "subjects": results}, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
