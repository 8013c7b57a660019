"""SPTQ's build-time search on the built-in text subjects' architectures, without their teachers.

bert's (MiniLM-L6: 6 layers, hidden 384) and roberta's (3 layers, hidden 256) architectures with
random weights, 128-token inputs; the labels are the fp32 model's own predictions, so the
accuracy drop is the int8 model's disagreement with fp32. Speed-ups depend on the architecture
and the runtime, not on the weights: this checks the search where the teachers are not trained.

Usage: python benchmarks/bench_sptq_arch.py bert|roberta   (1 thread; appends to
benchmarks/results/bench_sptq_arch.json)
"""
import sys, time, json, tempfile
from pathlib import Path
import numpy as np, torch
from transformers import BertConfig, BertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification
from edgewise.export import export_onnx
from edgewise.data.split import Split, Splits
from edgewise.operators import BuildContext, get_operator
from edgewise.artifacts import Artifact
from edgewise.onnxgraph import make_session
from edgewise.operators.sptq_candidates import interleaved_latency
torch.manual_seed(0)
kind = sys.argv[1]; L = 128
d = Path(tempfile.mkdtemp(prefix=f"sptq-arch-{kind}-"))
if kind == "bert":
    m = BertForSequenceClassification(BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536, num_labels=5)).eval()
else:
    m = RobertaForSequenceClassification(RobertaConfig(hidden_size=256, num_hidden_layers=3, num_attention_heads=4, intermediate_size=512, num_labels=5, max_position_embeddings=L + 2, vocab_size=8000)).eval()
class W(torch.nn.Module):
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, input_ids, attention_mask): return s.m(input_ids=input_ids, attention_mask=attention_mask).logits
rng = np.random.default_rng(0); n = 160
ids = rng.integers(5, 7000, (n, L)).astype(np.int64); mask = np.ones((n, L), np.int64)
for i in range(0, n, 4):  # a quarter shorter than the window
    k = int(rng.integers(40, L)); ids[i, k:] = 1; mask[i, k:] = 0
src = d / "fp32.onnx"
if not src.exists(): export_onnx(W(m), {"input_ids": ids[:1], "attention_mask": mask[:1]}, src)
s = make_session(src)
labels = np.concatenate([s.run(None, {"input_ids": ids[i:i+32], "attention_mask": mask[i:i+32]})[0] for i in range(0, n, 32)]).argmax(1)
class Subj:
    family = "transformer"; metrics = ("accuracy",)
    def splits(self):
        sp = Split({"input_ids": ids[:100], "attention_mask": mask[:100]}, labels[:100]); ev = Split({"input_ids": ids[100:], "attention_mask": mask[100:]}, labels[100:])
        return Splits(sp, sp, ev)
subj = Subj()
art = Artifact(kind, (), (src,), None, frozenset({"onnx", "float"}), {})
wd = d / "build"; wd.mkdir(exist_ok=True)
t0 = time.time()
out = get_operator("sptq").apply(art, BuildContext(subj, wd, log=print))
build_s = time.time() - t0
ev = subj.splits().evaluation
feeds = [ev.batch(slice(i, i + 1)) for i in range(16)]
fp, q = interleaved_latency([make_session(src), make_session(out.onnx)], feeds, 60)
qs = make_session(out.onnx)
agree = float((qs.run(None, {"input_ids": ev.inputs["input_ids"], "attention_mask": ev.inputs["attention_mask"]})[0].argmax(1) == ev.labels).mean())
row = {"arch": kind, "fp32_ms": fp * 1e3, "int8_ms": q * 1e3, "speedup": fp / q, "eval_agreement": agree, "build_s": build_s,
       "variant": out.meta["choice"]["label"], "reason": out.meta["choice"]["reason"],
       "candidates": [{k: c[k] for k in ("label", "latency_ms", "incumbent_ms", "drop_points", "verdict", "error")} for c in out.meta["candidates"]]}
print(json.dumps(row, indent=1))
results = Path(__file__).parent / "results" / "bench_sptq_arch.json"
rows = json.loads(results.read_text()) if results.exists() else {}
rows[kind] = {**row, "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "threads": 1}
results.write_text(json.dumps(rows, indent=1))
