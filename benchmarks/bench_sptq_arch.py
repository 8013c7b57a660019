"""SPTQ's build-time search on the built-in text subjects' architectures, without their teachers.

bert's (MiniLM-L6: 6 layers, hidden 384) and roberta's (3 layers, hidden 256) architectures with
random weights, 128-token inputs; the labels are the fp32 model's own predictions, so the
accuracy drop is the int8 model's disagreement with fp32. Speed-ups depend on the architecture
and the runtime, not on the weights: this checks the search where the teachers are not trained.

Usage: python benchmarks/bench_sptq_arch.py bert|roberta   (1 thread; updates
benchmarks/results/bench_sptq_arch.json)
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LENGTH, SAMPLES, CALIBRATION = 128, 160, 100
ARCHS = {"bert": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
         "roberta": dict(hidden_size=256, num_hidden_layers=3, num_attention_heads=4, intermediate_size=512,
                         max_position_embeddings=LENGTH + 2, vocab_size=8000)}


def export(kind: str, path: Path, example: dict[str, np.ndarray]) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification

    from edgewise.building.export import export_onnx

    torch.manual_seed(0)
    config, cls = (BertConfig, BertForSequenceClassification) if kind == "bert" else (RobertaConfig, RobertaForSequenceClassification)
    model = cls(config(num_labels=5, **ARCHS[kind])).eval()

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    export_onnx(Logits(), example, path)


def inputs() -> dict[str, np.ndarray]:
    """Token windows, a quarter of them shorter than the window (padded, masked)."""
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 7000, (SAMPLES, LENGTH)).astype(np.int64)
    mask = np.ones((SAMPLES, LENGTH), np.int64)
    for i in range(0, SAMPLES, 4):
        k = int(rng.integers(40, LENGTH))
        ids[i, k:], mask[i, k:] = 1, 0
    return {"input_ids": ids, "attention_mask": mask}


class ArchSubject:
    """What sptq reads from a subject: family, metrics and splits (labels: fp32's predictions)."""

    family = "transformer"
    metrics = ("accuracy",)

    def __init__(self, data: dict[str, np.ndarray], labels: np.ndarray):
        from edgewise.data.split import Split, Splits

        calibration = Split({k: v[:CALIBRATION] for k, v in data.items()}, labels[:CALIBRATION])
        self._splits = Splits(calibration, calibration, Split({k: v[CALIBRATION:] for k, v in data.items()}, labels[CALIBRATION:]))

    def splits(self):
        return self._splits


def main(kind: str) -> dict:
    from edgewise.building.artifacts import Artifact
    from edgewise.onnxgraph import make_session
    from edgewise.operators import BuildContext, get_operator
    from edgewise.tiers.session_latency import interleaved_latency

    workdir = Path(tempfile.mkdtemp(prefix=f"sptq-arch-{kind}-"))
    data = inputs()
    src = workdir / "fp32.onnx"
    export(kind, src, {k: v[:1] for k, v in data.items()})
    fp32 = make_session(src)
    labels = np.concatenate([fp32.run(None, {k: v[i : i + 32] for k, v in data.items()})[0]
                             for i in range(0, SAMPLES, 32)]).argmax(1)
    subject = ArchSubject(data, labels)
    (workdir / "build").mkdir()
    t0 = time.time()
    art = get_operator("sptq").apply(Artifact(kind, (), (src,), None, frozenset({"onnx", "float"}), {}),
                                     BuildContext(subject, workdir / "build", log=print))
    build_s = time.time() - t0
    evaluation = subject.splits().evaluation
    feeds = [evaluation.batch(slice(i, i + 1)) for i in range(16)]
    int8 = make_session(art.onnx)
    fp32_s, int8_s = interleaved_latency([fp32, int8], feeds, 60)
    agreement = float((int8.run(None, evaluation.inputs)[0].argmax(1) == evaluation.labels).mean())
    return {"arch": kind, "fp32_ms": fp32_s * 1e3, "int8_ms": int8_s * 1e3, "speedup": fp32_s / int8_s,
            "eval_agreement": agreement, "build_s": build_s, "variant": art.meta["choice"]["label"],
            "reason": art.meta["choice"]["reason"],
            "candidates": [{k: c[k] for k in ("label", "latency_ms", "incumbent_ms", "drop_points", "verdict", "error")}
                           for c in art.meta["candidates"]]}


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else "roberta"
    row = main(kind)
    print(json.dumps(row, indent=1))
    results = Path(__file__).parent / "results" / "bench_sptq_arch.json"
    rows = json.loads(results.read_text()) if results.exists() else {}
    rows[kind] = {**row, "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "threads": 1}
    results.write_text(json.dumps(rows, indent=1))
