"""Training and teacher-logit speed on one core: the layouts, batch sizes and optimiser step that
`edgewise.building.training` uses, against the plain ones, side by side.

- predict: the resnet teacher's logits per image, batches of 256 in the plain (NCHW) layout against
  batches of 64 channels-last (what TeacherLogits and teacher scoring now use);
- train step: one mini-batch of 32 for the resnet teacher and its student, plain against
  channels-last (every CNN that `fit` trains);
- precision: the teacher's step and a MiniLM-sized BERT's step (16 x 128 tokens), fp32 against bf16
  autocast (what `fit` uses where the CPU computes bf16 natively: `native_bf16` in the output);
- optimiser: one AdamW step over a MiniLM-sized set of parameters, the per-tensor loop against the
  fused kernel.

Rounds interleave the variants; figures are medians of per-round medians, with their spread.

Usage: python benchmarks/bench_training.py [--quick]
Writes benchmarks/results/bench_training.json.
"""

from __future__ import annotations

from common import interleaved, parse_args, spread, table, timed, write_results


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    import torch

    from edgewise.subjects.nets.residual import WideResNet
    from edgewise.subjects.resnet import WideResNetSubject

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rounds, repeats = (2, 1) if args.quick else (5, 1)
    images = 128 if args.quick else 512
    x = torch.randn(images, 1, 28, 28)
    y = torch.randint(0, 10, (32,))

    def arch(which: str) -> torch.nn.Module:
        return WideResNet(**{k: tuple(v) if k == "depths" else v
                             for k, v in getattr(WideResNetSubject, which).items()})

    teacher, student = arch("teacher_arch"), arch("student_arch")

    def layout(module: torch.nn.Module, channels_last: bool) -> torch.nn.Module:
        return module.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)

    def predict(batch: int, channels_last: bool):
        def run() -> float:
            model = layout(teacher.eval(), channels_last)
            with torch.inference_mode():
                return timed(lambda: [model(x[i:i + batch]) for i in range(0, images, batch)]) / images
        return run

    def train_step(module: torch.nn.Module, channels_last: bool, bf16: bool = False, steps: int = 3, feeds=None,
                   labels=None):
        def run() -> float:
            model = layout(module.train(), channels_last)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)

            def steps_() -> None:
                for _ in range(steps):
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                        logits = model(**feeds).logits if feeds else model(x[:32])
                    loss = torch.nn.functional.cross_entropy(logits.float(), y if labels is None else labels)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
            return timed(steps_) / steps
        return run

    from transformers import BertConfig, BertForSequenceClassification

    bert = BertForSequenceClassification(BertConfig(hidden_size=384, num_hidden_layers=2 if args.quick else 6,
                                                    num_attention_heads=12, intermediate_size=1536, num_labels=5))
    tokens = torch.randint(0, 30000, (16, 128))
    text_feeds = {"input_ids": tokens, "attention_mask": torch.ones_like(tokens)}
    text_labels = torch.randint(0, 5, (16,))

    def bert_step(bf16: bool):
        run = train_step(bert, False, bf16, steps=1, feeds=text_feeds, labels=text_labels)
        return lambda: run()

    # A MiniLM-L6-sized parameter set (22.7 M floats in 6 x 16 tensors plus embeddings).
    params = [torch.nn.Parameter(torch.randn(384, 384)) for _ in range(6 * 12)]
    params += [torch.nn.Parameter(torch.randn(1536, 384)) for _ in range(6 * 2)]
    params += [torch.nn.Parameter(torch.randn(30522, 384))]
    for p in params:
        p.grad = torch.randn_like(p)

    def adamw_step(fused: bool):
        opt = torch.optim.AdamW(params, lr=1e-3, fused=fused)
        return lambda: timed(opt.step)

    pairs = {
        "predict per image": (predict(256, False), predict(64, True), "NCHW, batch 256", "channels-last, batch 64"),
        "teacher train step": (train_step(teacher, False), train_step(teacher, True), "NCHW", "channels-last"),
        "student train step": (train_step(student, False), train_step(student, True), "NCHW", "channels-last"),
        "teacher train step, precision": (train_step(teacher, True), train_step(teacher, True, bf16=True),
                                          "fp32", "bf16 autocast"),
        "MiniLM train step, precision": (bert_step(False), bert_step(True), "fp32", "bf16 autocast"),
        "AdamW step (MiniLM size)": (adamw_step(False), adamw_step(True), "per-tensor loop", "fused"),
    }
    variants = {}
    for name, (before, after, _, _) in pairs.items():
        variants[f"{name}|before"], variants[f"{name}|after"] = before, after
    per_round = interleaved(variants, rounds, repeats)

    rows = []
    for name, (_, _, before_label, after_label) in pairs.items():
        before, after = spread(per_round[f"{name}|before"]), spread(per_round[f"{name}|after"])
        ratios = [b / a for b, a in zip(per_round[f"{name}|before"], per_round[f"{name}|after"])]
        rows.append({"what": name, "before": before_label, "after": after_label, "before_ms": before["median"] * 1e3,
                     "after_ms": after["median"] * 1e3, "speedup": spread(ratios)})
    print(table(["what", "before", "after", "before ms", "after ms", "speed-up (min-max)"],
                [[r["what"], r["before"], r["after"], f"{r['before_ms']:.2f}", f"{r['after_ms']:.2f}",
                  f"{r['speedup']['median']:.2f}x ({r['speedup']['min']:.2f}-{r['speedup']['max']:.2f})"]
                 for r in rows]))
    from edgewise.building.training import BF16, training_precision

    data = {"threads": 1, "rounds": rounds, "repeats": repeats, "images": images, "rows": rows,
            "native_bf16": training_precision("cpu") == BF16, "cpu": cpu_model()}
    print(f"wrote {write_results('bench_training', data, args.out)}")


def cpu_model() -> str:
    try:
        lines = open("/proc/cpuinfo").read().splitlines()
    except OSError:
        return "unknown"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")


if __name__ == "__main__":
    main()
