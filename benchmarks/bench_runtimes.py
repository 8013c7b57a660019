"""Every runtime against ONNX Runtime on the built-in subjects' artifacts, one thread, batch 1.

Per subject: the fp32 model (identity) through ONNX Runtime, OpenVINO in f32 and in bf16, and
ExecuTorch (XNNPACK); the int8 model through ONNX Runtime and OpenVINO (the same sptq QDQ graph) and
ExecuTorch's own int8 form (PT2E, XNNPACK quantizer). The sessions of one precision take turns in
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

from benchmarks.common import parse_args, spread, table, write_results  # noqa: E402
from edgewise.artifacts import ArtifactCache  # noqa: E402
from edgewise.environment import fingerprint  # noqa: E402
from edgewise.operators import BuildContext, get_operator  # noqa: E402
from edgewise.operators.chain import build_step, root_artifact  # noqa: E402
from edgewise.runtimes.choice import RuntimeChoice  # noqa: E402
from edgewise.runtimes.forms import build_form  # noqa: E402
from edgewise.subjects import SUBJECTS, SubjectContext, get_subject  # noqa: E402
from edgewise.subjects.base import _load_builtins  # noqa: E402
from edgewise.subjects.teachers import teacher_missing  # noqa: E402

CACHE = Path(".edgewise-cache")
WANTED = ("resnet", "resnext", "bert", "roberta")
FP32 = ("onnxruntime", "openvino", "openvino[precision=bf16]", "executorch")
INT8 = ("onnxruntime", "openvino", "executorch")


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


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


def sessions(subject, cache, root, int8, log) -> tuple[dict, dict, dict]:
    """The fp32 and int8 runs of every runtime (name -> feeds -> outputs), and what could not be built."""
    ctx = lambda wd: BuildContext(subject, wd or Path("."), log=log)  # noqa: E731 - the build's context factory
    fp32, quant, failed = {}, {}, {}
    for texts, artifact, out, replaced in ((FP32, root, fp32, ()), (INT8, int8, quant, ("sptq",))):
        for text in texts:
            runtime = RuntimeChoice.parse(text).make()
            try:
                art = artifact
                if runtime.form != "onnx":
                    art = build_form(runtime, root, cache, ctx, replaced, {}, ("sptq",) if replaced else ())
                session = runtime.open(art.parts[0], 1, art.meta.get("io"))
            except Exception as exc:  # noqa: BLE001 - a runtime that cannot take this model is reported, not fatal
                failed[f"{text} {'int8' if replaced else 'fp32'}"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                continue
            names = [i.name for i in session.inputs]
            out[text] = lambda feeds, s=session, n=names: s.run({k: feeds[k] for k in n})
    return fp32, quant, failed


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
        root = root_artifact(subject, cache, log)
        int8 = build_step(get_operator("sptq"), root, cache, lambda wd: BuildContext(subject, wd or Path("."), log=log))
        feeds = [subject.splits().evaluation.batch(slice(i, i + 1)) for i in range(8)]
        fp32, quant, failed = sessions(subject, cache, root, int8, log)
        figures = {"fp32": rounds_of_blocks(fp32, feeds, 3, blocks, block),
                   "int8": rounds_of_blocks(quant, feeds, 3, blocks, block)}
        entry = {"subject": name, "ms": figures, "failed": failed}
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
