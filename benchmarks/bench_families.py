"""Model-only speed-up of structured pruning and of the automatic student on transformer families
no built-in subject uses (ALBERT, DeBERTa-v2, ELECTRA, ViT), and on a depthwise CNN.

Each model is built from a transformers config of a small production size (hidden 256, 4 heads,
FFN 1024, 4 layers; text at 128 tokens, ViT at 128x128 in 16-pixel patches, 64 tokens), random
weights: speed depends on the shapes, not on what was learned. prune 0.5 removes half the heads and
half the FFN neurons of every layer (Torch-Pruning's dependency graph, as the prune operator does);
the automatic student keeps every other layer (as the distill operator derives it). Latency: ONNX
Runtime, 1 thread, spinning off, batch 1, teacher / pruned / student interleaved; the ratio is
the median over rounds of the per-round ratios of medians.
Targets: prune 0.5 >= 1.3x and automatic-student distill >= 1.5x on the transformers.

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

RESULTS = Path(__file__).parent / "results" / "families.json"
SIZES = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
SEQUENCE = 128
IMAGE, PATCH = 128, 16
CLASSES = 4
TARGETS = {"prune": 1.3, "distill": 1.5}
ROUNDS, RUNS = 5, 20
FAMILIES = ["albert", "deberta-v2", "electra", "vit", "depthwise-cnn"]


def _use_quick_settings() -> None:
    global SIZES, SEQUENCE, IMAGE, ROUNDS, RUNS
    SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    SEQUENCE, IMAGE, ROUNDS, RUNS = 16, 32, 2, 3


def _text_model(kind: str):
    from transformers import AlbertConfig, AutoModelForSequenceClassification, DebertaV2Config, ElectraConfig

    from edgewise.subjects.modules import LogitsOnly

    common = dict(vocab_size=8000, max_position_embeddings=SEQUENCE + 2, num_labels=CLASSES, **SIZES)
    config = {"albert": lambda: AlbertConfig(embedding_size=128, **common),
              "deberta-v2": lambda: DebertaV2Config(relative_attention=True, pos_att_type=["p2c", "c2p"], share_att_key=True,
                                                    position_buckets=64, max_relative_positions=SEQUENCE, type_vocab_size=0,
                                                    **common),
              "electra": lambda: ElectraConfig(embedding_size=128, **common)}[kind]()
    return LogitsOnly(AutoModelForSequenceClassification.from_config(config)).eval()


def _vit():
    from transformers import ViTConfig, ViTForImageClassification

    from edgewise.subjects.modules import LogitsOnly

    return LogitsOnly(ViTForImageClassification(ViTConfig(image_size=IMAGE, patch_size=PATCH, num_channels=3,
                                                          num_labels=CLASSES, **SIZES))).eval()


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
    if family in ("vit", "depthwise-cnn"):
        return {"pixel_values": rng.normal(size=(1, 3, IMAGE, IMAGE)).astype(np.float32)}
    return {"input_ids": rng.integers(5, 8000, (1, SEQUENCE)).astype(np.int64),
            "attention_mask": np.ones((1, SEQUENCE), np.int64)}


def _model(family: str) -> nn.Module:
    torch.manual_seed(0)
    if family == "vit":
        return _vit()
    if family == "depthwise-cnn":
        return KeywordCNN().eval()
    return _text_model(family)


def bench_family(family: str, workdir: Path) -> dict:
    from edgewise.export import export_onnx
    from edgewise.whitebox.measure import latency_ms, parameter_count
    from edgewise.whitebox.structured import prune_cnn_channels, prune_transformer
    from edgewise.whitebox.students import derive_student

    example = _example(family)
    feeds = {k: torch.from_numpy(v) for k, v in example.items()}
    teacher = _model(family)
    pruned = copy.deepcopy(teacher)
    start = time.time()
    if family == "depthwise-cnn":
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
    if family != "depthwise-cnn":
        row["meets_target"] = {op: bool(ratios[op] >= TARGETS[op]) for op in TARGETS}
    return row


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("families", nargs="*", choices=[[], *FAMILIES], default=[])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
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
    load = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"quick": args.quick, "sizes": SIZES, "sequence": SEQUENCE, "image": IMAGE,
                                    "patch": PATCH, "ort_threads": 1, "batch": 1, "rounds": ROUNDS,
                                    "runs_per_round": RUNS, "load_average": [round(x, 2) for x in load],
                                    "targets": TARGETS, "rows": rows}, indent=1))
    print(f"load average during the run: {load[0]:.1f} (1 min), on {os.cpu_count()} cores")
    print(f"wrote {args.out}")
    met = all(all(r.get("meets_target", {}).values()) for r in rows)
    return 0 if met or args.quick else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
