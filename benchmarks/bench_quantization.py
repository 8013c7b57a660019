"""Int8 that knows where it pays: sptq decided per node against the search alone, and dynamic int8 (dptq).

Per subject and chain (sptq; distill+sptq for the built-ins; dptq and distill+dptq for transformers):
- fp32: the chain's input (the teacher, or its distilled student);
- sptq before node-level control: built by the code at BASELINE (the commit before it), in a
  subprocess, with the same parameters (for the built-ins, the default study's own artifact, from
  the shared cache);
- sptq now: the same search, then accuracy control and speed control per node (int8_nodes.py);
- dptq: dynamic int8, transformers only.
Model only: ONNX Runtime, 1 thread, spinning off, batch 1, on the subject's latency inputs after
preprocessing (text: 128 tokens). The variants take turns in blocks of 10 back-to-back runs; a
figure is the median over rounds of the per-round medians, with their min and max. Accuracy: the
first 1,000 samples of the evaluation split, points against fp32.
Goals: sptq now never slower than before (within the timing margin) and faster wherever the search
kept a slow or lossy graph, at <= 1 point; dptq on bert >= 2.0x over fp32 within 1 point.

Subjects: the four built-ins (teachers from the cache) and two families no built-in resembles,
trained here: ELECTRA (hidden 256, 4 layers, 128 tokens) and a depthwise CNN.

Usage: python benchmarks/bench_quantization.py [subject ...] [--quick] [--out FILE] [--baseline REF]
(--quick: tiny-cnn and tiny-bert, one round: it checks the benchmark, its ratios mean little).
Writes benchmarks/results/bench_quantization.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_name, parse_args, spread, table, write_results  # noqa: E402

BASELINE = "7c9e9c7"  # the last commit whose sptq chose its variant by the candidate search alone
BUILTINS = ("resnet", "resnext", "bert", "roberta")
FAMILIES = ("electra", "depthwise-cnn")
CACHE = ROOT / ".edgewise-cache"
STUDY_OPERATORS: dict = {}  # the operators' parameters of examples/paper.yaml (it leaves them at their defaults)
ROUNDS, RUNS, EVALUATION = 5, 30, 1000
MARGIN = 0.03  # the timing margin of the search: a difference below it is not a difference
BERT_GOAL = 2.0

_BASELINE_BUILD = """
import json, sys
# Only the baseline's own package: the editable install's finder would hand over today's modules for
# names the baseline lacks.
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
from pathlib import Path
try:
    from edgewise.artifacts import ArtifactCache  # where the cache lived before the building/ room
except ImportError:
    from edgewise.building.artifacts import ArtifactCache
from edgewise.operators.chain import Chain, build_chain
from edgewise.subjects import SubjectContext
from edgewise.subjects.user import make_subject
from edgewise.testing.operators import make_ctx_factory
entry, chain, cache, params = json.loads(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), json.loads(sys.argv[4])
subject = make_subject(entry, SubjectContext(cache_dir=cache, log=lambda m: None))
art = build_chain(Chain.parse(chain), subject, ArtifactCache(cache / "artifacts"), make_ctx_factory(subject, None),
                  params=params, log=lambda m: None)
print(json.dumps({"path": str(art.parts[0]), "label": art.meta.get("choice", {}).get("label")}))
"""


def baseline_tree(ref: str, into: Path) -> Path:
    """The edgewise package as it was at `ref`, extracted from git (nothing is checked out)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "edgewise"], capture_output=True, check=True)
    with tempfile.NamedTemporaryFile(suffix=".tar") as tmp:
        Path(tmp.name).write_bytes(archive.stdout)
        with tarfile.open(tmp.name) as tar:
            tar.extractall(into, filter="data")
    # The test families' trained models are pickled against today's module: the baseline unpickles them too.
    shutil.copy(ROOT / "edgewise" / "testing" / "families.py", into / "edgewise" / "testing" / "families.py")
    return into


def build_baseline(tree: Path, entry, chain: str, cache: Path, extra_path: list[str]) -> dict:
    # The baseline's package first; the repository after it for what a family's pickled model refers to.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), *extra_path, str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", _BASELINE_BUILD, json.dumps(entry), chain, str(cache),
                           json.dumps(STUDY_OPERATORS)], capture_output=True, text=True, env=env, cwd=tree)
    if done.returncode != 0:
        raise RuntimeError(f"baseline build of {chain} failed: {done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def build_now(subject, chain: str, cache: Path) -> tuple[object, float]:
    from edgewise.building.artifacts import ArtifactCache
    from edgewise.operators.chain import Chain, build_chain
    from edgewise.testing.operators import make_ctx_factory

    t0 = time.perf_counter()
    art = build_chain(Chain.parse(chain), subject, ArtifactCache(cache / "artifacts"), make_ctx_factory(subject, None),
                      params=STUDY_OPERATORS, log=lambda m: None)
    return art, time.perf_counter() - t0


def accuracy(path: Path, subject) -> float:
    from edgewise.data.batching import fixed_batch, run_batched
    from edgewise.subjects import score
    from edgewise.tiers.sessions import make_session

    session = make_session(path)
    names = [i.name for i in session.get_inputs()]
    split = subject.splits().evaluation.take(EVALUATION)
    logits = run_batched(lambda b: session.run(None, {n: b[n] for n in names})[0], split, 64, fixed_batch(session))
    return score(subject.metrics, logits, split.labels)[0][subject.metrics[0]]


def latency_feeds(subject, n: int = 8) -> list[dict[str, np.ndarray]]:
    from edgewise.data.preprocess import build_preprocessor

    preprocess = build_preprocessor(subject.preprocessing())
    return [preprocess(p) for p in subject.latency_inputs(n)]


def time_variants(paths: dict[str, Path], feeds, rounds: int, runs: int) -> dict[str, dict[str, float]]:
    from edgewise.tiers.session_latency import interleaved_latency
    from edgewise.tiers.sessions import make_session

    names = list(paths)
    sessions = [make_session(paths[n], 1) for n in names]
    per_round: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]  # who starts a round rotates too
        medians = interleaved_latency([sessions[names.index(n)] for n in order], feeds, runs)
        for n, m in zip(order, medians):
            per_round[n].append(m * 1e3)
    return {n: spread(v) for n, v in per_round.items()}


def families_entries(work: Path, quick: bool) -> dict[str, dict]:
    sys.path.insert(0, str(ROOT))
    from edgewise.testing import families

    entries = {}
    if "electra" in FAMILIES:
        entries["electra"] = _electra(work / "electra", families, quick)
    if "depthwise-cnn" in FAMILIES:
        (work / "cnn").mkdir(parents=True, exist_ok=True)
        entries["depthwise-cnn"] = families.torch_cnn_family(work / "cnn").subject
        sys.path.insert(0, str(work / "cnn"))
    return entries


def _electra(folder: Path, families, quick: bool) -> dict:
    """A trained ELECTRA of a small production size, as a local Hugging Face folder with its data."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes = (dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64) if quick else
             dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024))
    config = families.text_config("electra", max_position_embeddings=128, **sizes)
    tokenizer = families.write_tokenizer(folder / "tokenizer.json")
    texts, labels = families.texts(800, seed=1)
    model = families._train(families.text_classifier("electra", config), families._encode(tokenizer, texts), labels,
                            epochs=3, lr=1e-3)
    model.model.save_pretrained(folder)
    data_texts, data_labels = families.texts(1200, seed=2)
    data = folder.parent / "electra.csv"
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(data_texts, data_labels)))
    return {"name": "electra", "task": "text-classification", "hf": str(folder), "data": str(data),
            "input": {"max_length": 128}}


def measure(name: str, entry, cache: Path, tree: Path, extra_path: list[str], rounds: int, runs: int) -> list[dict]:
    from edgewise.subjects import SubjectContext
    from edgewise.subjects.user import make_subject

    subject = make_subject(entry, SubjectContext(cache_dir=cache, log=lambda m: None))
    transformer = getattr(subject, "family", "cnn") == "transformer"
    chains = ["sptq", "distill+sptq"] if name in BUILTINS else ["sptq"]
    feeds = latency_feeds(subject)
    rows = []
    for chain in chains:
        source = chain.rsplit("+", 1)[0] if "+" in chain else "identity"
        fp32_art, _ = build_now(subject, source, cache)
        before = build_baseline(tree, entry, chain, cache, extra_path)
        now, now_s = build_now(subject, chain, cache)
        paths = {"fp32": fp32_art.parts[0], "sptq before": Path(before["path"]), "sptq now": now.parts[0]}
        if transformer:
            dynamic_chain = chain.replace("sptq", "dptq")
            paths["dptq"] = build_now(subject, dynamic_chain, cache)[0].parts[0]
        times = time_variants(paths, feeds, rounds, runs)
        acc = {k: accuracy(p, subject) for k, p in paths.items()}
        fp32_ms = times["fp32"]["median"]
        variants = {k: {"ms": times[k], "speedup": fp32_ms / times[k]["median"],
                        "drop_points": 100 * (acc["fp32"] - acc[k])} for k in paths}
        variants["sptq before"]["label"] = before["label"]
        variants["sptq now"].update(label=now.meta["choice"]["label"], build_s=now_s,
                                    kept_float=now.meta["nodes"]["kept_float"], groups=now.meta["nodes"]["groups"])
        ratio = times["sptq before"]["median"] / times["sptq now"]["median"]
        rows.append({"subject": name, "chain": chain, "metric": subject.metrics[0], "fp32_accuracy": acc["fp32"],
                     "variants": variants, "now_over_before": ratio,
                     "never_slower": ratio >= 1 - MARGIN,
                     "within_drop": variants["sptq now"]["drop_points"] <= 1.0 + 1e-9})
        print(f"{name} {chain}: " + ", ".join(f"{k} {v['ms']['median']:.3f} ms ({v['speedup']:.2f}x, "
                                               f"{v['drop_points']:+.2f} pt)" for k, v in variants.items()), flush=True)
    return rows


def main() -> None:
    global FAMILIES, ROUNDS, RUNS, EVALUATION

    args = parse_args(__doc__.splitlines()[0], lambda p: (p.add_argument("subjects", nargs="*"),
                                                           p.add_argument("--baseline", default=BASELINE),
                                                           p.add_argument("--cache", type=Path, default=CACHE)))
    import torch

    torch.set_num_threads(1)
    names = list(args.subjects) or (["tiny-cnn", "tiny-bert"] if args.quick else [*BUILTINS, *FAMILIES])
    if args.quick:
        FAMILIES, ROUNDS, RUNS, EVALUATION = (), 1, 5, 200
    rows: list[dict] = []
    failed: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-quantization-") as tmp:
        work = Path(tmp)
        tree = baseline_tree(args.baseline, work / "baseline")
        entries = families_entries(work / "families", args.quick) if set(names) & set(FAMILIES) else {}
        for name in names:
            cache = args.cache if name not in entries else work / "families" / "cache"
            extra = [str(work / "families" / "cnn")] if name == "depthwise-cnn" else []
            try:
                rows += measure(name, entries.get(name, name), cache, tree, extra, ROUNDS, RUNS)
            except Exception as exc:  # noqa: BLE001 - one subject that cannot be measured leaves the others'
                failed.append({"subject": name, "error": f"{type(exc).__name__}: {str(exc)[-800:]}"})
                print(f"{name}: failed: {failed[-1]['error']}", flush=True)
    bert = next((r for r in rows if r["subject"] == "bert" and r["chain"] == "sptq"), None)
    goals = {"sptq_now_never_slower": bool(rows) and not failed and all(r["never_slower"] for r in rows),
             "sptq_now_within_1_point": all(r["within_drop"] for r in rows),
             "bert_dptq_2x_within_1_point": None if bert is None else bool(
                 bert["variants"]["dptq"]["speedup"] >= BERT_GOAL and bert["variants"]["dptq"]["drop_points"] <= 1.0)}
    print(table(["subject", "chain", "fp32 ms", "sptq before", "sptq now", "dptq", "now/before"],
                [[r["subject"], r["chain"], f"{r['variants']['fp32']['ms']['median']:.3f}",
                  *(_cell(r["variants"].get(k)) for k in ("sptq before", "sptq now", "dptq")),
                  f"{r['now_over_before']:.2f}x"] for r in rows]))
    print("goals:", goals)
    import onnxruntime

    out = write_results("bench_quantization", {
        "cpu": cpu_name(), "onnxruntime": onnxruntime.__version__, "threads": 1, "rounds": ROUNDS, "runs": RUNS,
        "baseline": args.baseline, "evaluation_samples": EVALUATION, "quick": args.quick, "rows": rows,
        "failed": failed, "goals": goals}, args.out)
    print(f"wrote {out}")


def _cell(v: dict | None) -> str:
    return "–" if v is None else f"{v['speedup']:.2f}x / {v['drop_points']:+.2f} pt"


if __name__ == "__main__":
    main()
