"""Model-only speed-up of structured pruning and of the automatic student on model families no
built-in subject uses: encoders (ALBERT, DeBERTa-v2, ELECTRA), decoders (GPT-2: one fused q/k/v
Conv1D, causal; Qwen2: grouped-query attention, gated FFN), vision transformers (ViT; Swin:
windowed attention, stages), a ConvNeXt and a depthwise CNN.

Each model is built from a transformers config of a small production size, random weights: speed
depends on the shapes, not on what was learned. Text models: hidden 256, 4 heads (Qwen2: 2
key/value heads), FFN 1024, 4 layers, 128 tokens. ViT: the same at 128x128 in 16-pixel patches (64
tokens). Swin: 128x128 in 4-pixel patches, 4 stages of [2, 2, 4, 2] blocks, width 64 to 512, 4x4
windows. ConvNeXt: 128x128, stages of [2, 2, 6, 2] blocks, width 48 to 384. prune 0.5 does what the
prune operator does to the family: half the heads (whole key/value groups under grouped-query
attention) and half the FFN neurons of every layer for a transformer, half the channels of every
prunable group for a CNN; the automatic student is the distill operator's (every other layer, or
every other block of each stage). Latency: ONNX Runtime, 1 thread, spinning off, batch 1, teacher
/ pruned / student taking turns in blocks of runs; the ratio is the median over rounds of the
per-round ratios of medians.
Targets: prune 0.5 >= 1.3x and automatic-student distill >= 1.5x on every family but the depthwise
CNN (a reference point: its channels are all of its compute).

Random weights have no accuracy to lose, so the drop is taken on each family's small trained model
(the tests' builders: hidden 32, two layers or stages, a generated task learned in seconds): the
prune (0.5) and distill operators build it in the quick profile, and the drop is the accuracy
lost on its evaluation split, in points (--no-drop skips it).

Usage: python benchmarks/bench_families.py [family ...] [--quick] [--out FILE]
(--quick: tiny shapes and few runs, to check the benchmark itself; its ratios mean nothing).
Writes benchmarks/results/families.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np
import torch
import torch.nn as nn

from edgewise.environment import fingerprint

RESULTS = Path(__file__).parent / "results" / "families.json"
SIZES = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
SEQUENCE = 128
IMAGE, PATCH = 128, 16
SWIN = dict(patch_size=4, embed_dim=64, depths=[2, 2, 4, 2], num_heads=[2, 4, 8, 16], window_size=4)
CONVNEXT = dict(patch_size=4, hidden_sizes=[48, 96, 192, 384], depths=[2, 2, 6, 2], num_stages=4)
CLASSES = 4
VOCAB = 8000
TARGETS = {"prune": 1.3, "distill": 1.5}
ROUNDS, RUNS = 5, 20
DROP_OPERATORS = {"prune": {"ratio": 0.5}, "distill": {}}
TEXT = ["albert", "deberta-v2", "electra", "gpt2", "qwen2"]
IMAGES = ["vit", "swin", "convnext", "depthwise-cnn"]
FAMILIES = TEXT + IMAGES
CNNS = {"convnext", "depthwise-cnn"}  # what edgewise treats as a CNN: channels pruned, not heads
NO_TARGET = {"depthwise-cnn"}


def _use_quick_settings() -> None:
    global SIZES, SEQUENCE, IMAGE, ROUNDS, RUNS, SWIN, CONVNEXT, DROP_OPERATORS
    SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    SWIN = dict(patch_size=4, embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=4)
    CONVNEXT = dict(patch_size=4, hidden_sizes=[16, 32], depths=[2, 2], num_stages=2)
    SEQUENCE, IMAGE, ROUNDS, RUNS = 16, 32, 2, 3
    DROP_OPERATORS = {"prune": {"ratio": 0.5, "epochs": 1, "iterations": 2}, "distill": {"epochs": 1, "iterations": 2}}


def _text_model(kind: str):
    from transformers import (
        AlbertConfig,
        AutoModelForSequenceClassification,
        DebertaV2Config,
        ElectraConfig,
        GPT2Config,
        Qwen2Config,
    )

    from edgewise.subjects.modules import LogitsOnly

    common = dict(vocab_size=VOCAB, max_position_embeddings=SEQUENCE + 2, num_labels=CLASSES, **SIZES)
    config = {"albert": lambda: AlbertConfig(embedding_size=128, **common),
              "deberta-v2": lambda: DebertaV2Config(relative_attention=True, pos_att_type=["p2c", "c2p"],
                                                    share_att_key=True, position_buckets=64,
                                                    max_relative_positions=SEQUENCE, type_vocab_size=0, **common),
              "electra": lambda: ElectraConfig(embedding_size=128, **common),
              "gpt2": lambda: GPT2Config(vocab_size=VOCAB, n_positions=SEQUENCE + 2, n_embd=SIZES["hidden_size"],
                                         n_layer=SIZES["num_hidden_layers"], n_head=SIZES["num_attention_heads"],
                                         n_inner=SIZES["intermediate_size"], num_labels=CLASSES, pad_token_id=0),
              "qwen2": lambda: Qwen2Config(num_key_value_heads=SIZES["num_attention_heads"] // 2, pad_token_id=0,
                                           **common)}[kind]()
    return LogitsOnly(AutoModelForSequenceClassification.from_config(config)).eval()


def _image_model(kind: str):
    from transformers import (
        ConvNextConfig,
        ConvNextForImageClassification,
        SwinConfig,
        SwinForImageClassification,
        ViTConfig,
        ViTForImageClassification,
    )

    from edgewise.subjects.modules import LogitsOnly

    common = dict(image_size=IMAGE, num_channels=3, num_labels=CLASSES)
    if kind == "vit":
        model = ViTForImageClassification(ViTConfig(patch_size=PATCH, **common, **SIZES))
    elif kind == "swin":
        model = SwinForImageClassification(SwinConfig(**common, **SWIN))
    else:
        model = ConvNextForImageClassification(ConvNextConfig(**common, **CONVNEXT))
    return LogitsOnly(model).eval()


class KeywordCNN(nn.Module):
    """A MobileNet-style CNN taking `pixel_values` by keyword, as edgewise calls a model."""

    def __init__(self):
        super().__init__()

        def separable(cin, cout, stride):
            return [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(),
                    nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        layers = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU()]
        for cin, cout, stride in [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1)]:
            layers += separable(cin, cout, stride)
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(256, CLASSES)

    def forward(self, pixel_values):
        return self.classifier(self.features(pixel_values))


def _example(family: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    if family in IMAGES:
        return {"pixel_values": rng.normal(size=(1, 3, IMAGE, IMAGE)).astype(np.float32)}
    return {"input_ids": rng.integers(5, VOCAB, (1, SEQUENCE)).astype(np.int64),
            "attention_mask": np.ones((1, SEQUENCE), np.int64)}


def _model(family: str) -> nn.Module:
    torch.manual_seed(0)
    if family == "depthwise-cnn":
        return KeywordCNN().eval()
    if family in IMAGES:
        return _image_model(family)
    return _text_model(family)


def bench_family(family: str, workdir: Path) -> dict:
    from edgewise.building.export import export_onnx
    from edgewise.whitebox.measure import latency_ms, parameter_count
    from edgewise.whitebox.structured import prune_cnn_channels, prune_transformer
    from edgewise.whitebox.students import derive_student

    example = _example(family)
    feeds = {k: torch.from_numpy(v) for k, v in example.items()}
    teacher = _model(family)
    pruned = copy.deepcopy(teacher)
    start = time.time()
    if family in CNNS:
        prune_cnn_channels(pruned, feeds, 0.5, "l1", False, CLASSES)
        left = {}
    else:
        left = prune_transformer(pruned, 0.5, "l1", False, 0, feeds, CLASSES)
    prune_s = time.time() - start
    student, how = derive_student(teacher, example, 0.5, CLASSES)
    paths = [export_onnx(m, example, workdir / f"{family}-{tag}.onnx")
             for m, tag in ((teacher, "teacher"), (pruned, "pruned"), (student, "student"))]
    with torch.no_grad():
        reference = teacher(**feeds)
    assert reference.shape == pruned(**feeds).shape == student(**feeds).shape
    rounds = [latency_ms(paths, example, runs=RUNS, warmup=3) for _ in range(ROUNDS)]
    ratios = {"prune": median(r[0] / r[1] for r in rounds), "distill": median(r[0] / r[2] for r in rounds)}
    row = {"family": family, "teacher_ms": median(r[0] for r in rounds), "pruned_ms": median(r[1] for r in rounds),
           "student_ms": median(r[2] for r in rounds),
           "prune_speedup": round(ratios["prune"], 3), "distill_speedup": round(ratios["distill"], 3),
           "parameters": {"teacher": parameter_count(teacher), "pruned": parameter_count(pruned),
                          "student": parameter_count(student)},
           "pruned": left, "student": how, "prune_seconds": round(prune_s, 2)}
    if family not in NO_TARGET:
        row["meets_target"] = {op: bool(ratios[op] >= TARGETS[op]) for op in TARGETS}
    return row


def accuracy_drop(family: str, workdir: Path) -> dict:
    """Teacher accuracy and the points prune 0.5 and distill lose on the family's small trained model."""
    from edgewise.building.artifacts import ArtifactCache
    from edgewise.measure.accuracy import evaluate
    from edgewise.operators import BuildContext, get_operator
    from edgewise.operators.chain import build_step, root_artifact
    from edgewise.subjects import SubjectContext
    from edgewise.subjects.user import make_subject
    from edgewise.testing import families as trained  # the same trained families the tests study

    root_dir = workdir / f"{family}-trained"
    root_dir.mkdir()
    if family == "depthwise-cnn":
        built = trained.torch_cnn_family(root_dir)
        sys.path.insert(0, str(root_dir))  # its factory module lives beside the model, as a user's would
    elif family in trained.IMAGE_CLASSIFIERS:
        built = trained.hf_image_family(family, root_dir)
    else:
        built = trained.hf_text_family(family, root_dir)
    subject = make_subject(built.subject, SubjectContext(cache_dir=root_dir / "cache", log=lambda m: None))
    cache = ArtifactCache(root_dir / "artifacts")
    root = root_artifact(subject, cache, log=lambda m: None)
    evaluation, metric = subject.splits().evaluation, subject.metrics[0]
    teacher = evaluate(root.parts, evaluation, subject.metrics, threads=1)[0][metric]
    result = {"metric": metric, "teacher": round(teacher, 4), "evaluation_samples": len(evaluation)}
    for name, params in DROP_OPERATORS.items():
        artifact = build_step(get_operator(name, params), root, cache,
                              lambda wd: BuildContext(subject, wd or Path("."), profile="quick", log=lambda m: None))
        accuracy = evaluate(artifact.parts, evaluation, subject.metrics, threads=1)[0][metric]
        result[name] = {"accuracy": round(accuracy, 4), "drop_points": round(100 * (teacher - accuracy), 2)}
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("families", nargs="*", choices=[[], *FAMILIES], default=[])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-drop", action="store_true", help="skip the accuracy drop on the trained small models")
    args = parser.parse_args(argv)
    if args.quick:
        _use_quick_settings()

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families or FAMILIES:
            rows.append(bench_family(family, Path(tmp)))
            r = rows[-1]
            print(f"{family:14} teacher {r['teacher_ms']:7.2f} ms  prune 0.5 {r['pruned_ms']:7.2f} ms "
                  f"({r['prune_speedup']:.2f}x)  student {r['student_ms']:7.2f} ms ({r['distill_speedup']:.2f}x)  "
                  f"{r.get('meets_target', '')}", flush=True)
        for r in rows if not args.no_drop else []:
            r["drop"] = accuracy_drop(r["family"], Path(tmp))
            d = r["drop"]
            print(f"{r['family']:14} trained small model: {d['metric']} {d['teacher']:.3f}, drop prune 0.5 "
                  f"{d['prune']['drop_points']:+.2f} points, distill {d['distill']['drop_points']:+.2f} points",
                  flush=True)
    load = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"quick": args.quick, "cpu": fingerprint()["cpu"], "cores": os.cpu_count(),
                                    "sizes": SIZES, "sequence": SEQUENCE, "image": IMAGE, "patch": PATCH,
                                    "swin": SWIN, "convnext": CONVNEXT, "ort_threads": 1, "batch": 1, "rounds": ROUNDS,
                                    "runs_per_round": RUNS, "load_average": [round(x, 2) for x in load],
                                    "targets": TARGETS, "rows": rows}, indent=1))
    print(f"load average during the run: {load[0]:.1f} (1 min), on {os.cpu_count()} cores")
    print(f"wrote {args.out}")
    met = all(all(r.get("meets_target", {}).values()) for r in rows)
    return 0 if met or args.quick else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
