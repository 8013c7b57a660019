"""Pruning: remove channels / heads / neurons (structured), or zero weights (unstructured),
then fine-tune with self-distillation from the unpruned model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edgewise.building.artifacts import Artifact
from edgewise.building.training import fit
from edgewise.operators.base import LINEAR_LAYERS, BuildContext, Operator
from edgewise.vocabulary import FLOAT, ONNX, TORCH, TRANSFORMER
from edgewise.whitebox.distillation import TeacherLogits, distillation_loss_fn
from edgewise.whitebox.measure import latency_ms, macs_and_parameters
from edgewise.whitebox.output import example_input, write_artifact
from edgewise.whitebox.schedule import resolve, table_fingerprint

# Quick CNN fine-tuning: 4 x 25 mini-batches left the pruned image models 2.3-3.5 points
# behind; 4 x 80 brings them within a point (resnet -0.45, resnext +0.90).
_SCHEDULES = {
    ("quick", "cnn"): dict(epochs=4, iterations=80, batch_size=32, lr=1e-3),
    ("paper", "cnn"): dict(epochs=10, iterations=100, batch_size=32, lr=1e-3),
    ("quick", "transformer"): dict(epochs=3, iterations=25, batch_size=16, lr=1e-4),
    ("paper", "transformer"): dict(epochs=10, iterations=100, batch_size=16, lr=5e-5),
}
_TAYLOR_BATCHES = 4  # mini-batches whose gradients estimate taylor importance


class PruneParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["structured", "unstructured"] = "structured"
    ratio: float = Field(0.5, gt=0, lt=1, description="fraction of channels / heads / neurons (or weights) removed")
    scope: Literal["local", "global"] = "local"  # local: the ratio in every layer; global: ranked across layers
    importance: Literal["l1", "l2", "taylor", "random"] = "l1"
    alpha: float = Field(0.5, ge=0, le=1, description="weight of the label loss against distillation from the unpruned model")
    temperature: float = Field(2.0, gt=0)
    epochs: int | None = Field(None, ge=0, description="fine-tuning epochs (default: 4 quick, 3 for transformers, "
                                                       "10 paper); 0 skips fine-tuning")
    iterations: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1)
    lr: float | None = Field(None, gt=0)


class Prune(Operator):
    name = "prune"
    kind = "white"
    display_order = 30
    acts_on = LINEAR_LAYERS
    requires = frozenset({TORCH})
    produces = frozenset({TORCH, ONNX, FLOAT})
    tolerance = 0.05
    description = "structured pruning of channels / attention heads / FFN neurons with self-distilled fine-tuning"
    meta_keys = frozenset({"mode", "ratio", "macs_before", "macs_after", "parameters_before", "parameters_after",
                           "latency_ms_before", "latency_ms_after"})
    Params = PruneParams

    def cache_params(self) -> dict:
        # The profile defaults are part of what was built: changing one must rebuild.
        from edgewise.whitebox.structured import METHOD  # lazy: pulls torch

        return {**self.params.model_dump(), "defaults": {"schedules": table_fingerprint(_SCHEDULES)}, "method": METHOD}

    def apply(self, artifact: Artifact, ctx: BuildContext) -> Artifact:
        import torch

        p = self.params
        schedule = resolve(_SCHEDULES, self.name, ctx, p)
        train = ctx.subject.training_data()
        data, index = schedule.training_subset(train, ctx.seed)
        example = example_input(ctx)

        model = ctx.load_torch(artifact)
        macs_before, params_before = macs_and_parameters(model, example)
        if p.importance == "taylor":
            _taylor_gradients(model, data, schedule.batch_size)
        summary = self._prune(model, ctx, example)
        model.zero_grad(set_to_none=True)

        if schedule.epochs > 0:
            teacher = TeacherLogits(ctx.subject.ctx.cache_dir, artifact.key)
            logits = teacher.get(lambda: ctx.load_torch(artifact), data, index, ctx.device)
            ctx.log(f"prune ({p.mode} {p.ratio}): fine-tuning {schedule.epochs} epochs x {schedule.iterations} iterations")
            fit(model, data, **schedule.fit_kwargs(), seed=ctx.seed, device=ctx.device,
                loss_fn=distillation_loss_fn(logits, p.alpha, p.temperature, ctx.device))
        if p.mode == "unstructured":
            from edgewise.whitebox.unstructured import make_permanent  # lazy: pulls torch

            summary["zero_weight_fraction"] = round(make_permanent(model), 4)
        macs_after, params_after = macs_and_parameters(model, example)
        with torch.no_grad():
            out = write_artifact(model, ctx, artifact, {}, capabilities=self.produces, keep_torch=True)
        before_ms, after_ms = latency_ms([artifact.onnx, out.onnx], example)
        out.meta = {
            "mode": p.mode, "ratio": p.ratio, "scope": p.scope, "importance": p.importance,
            "alpha": p.alpha, "temperature": p.temperature, "schedule": schedule.describe(), **summary,
            "macs_before": macs_before, "macs_after": macs_after,
            "parameters_before": params_before, "parameters_after": params_after,
            "latency_ms_before": before_ms, "latency_ms_after": after_ms,
            "speedup": round(before_ms / after_ms, 3) if after_ms else None,
            "latency_note": "ONNX Runtime, 1 thread, batch 1, medians of runs in alternating blocks",
        }
        if p.mode == "unstructured":
            out.meta["expectation"] = "no speed-up expected on dense runtimes: zeros are still multiplied"
        return out

    def _prune(self, model, ctx: BuildContext, example) -> dict:
        import torch

        from edgewise.whitebox import structured, unstructured  # lazy: pulls torch

        p = self.params
        if p.mode == "unstructured":
            unstructured.mask_smallest(model, p.ratio, p.importance)
            return {"pruned": "Conv/Linear weights, global magnitude ranking" if p.importance != "random" else "Conv/Linear weights, random"}
        feeds = {k: torch.from_numpy(v) for k, v in example.items()}
        if ctx.subject.family == TRANSFORMER:
            left = structured.prune_transformer(model, p.ratio, p.importance, p.scope == "global", ctx.seed, feeds,
                                                ctx.subject.num_classes)
            return {"pruned": "attention heads and FFN neurons (found by what the layers do, each removal checked)",
                    **left}
        model.eval()
        structured.prune_cnn_channels(model, feeds, p.ratio, p.importance, p.scope == "global", ctx.subject.num_classes)
        return {"pruned": "convolution channels (Torch-Pruning dependency graph)"}


def _taylor_gradients(model, data, batch_size: int) -> None:
    import torch

    from edgewise.whitebox.structured import accumulate_gradients  # lazy: pulls torch

    batches, labels = [], []
    for feeds, y in list(data.batches(batch_size))[:_TAYLOR_BATCHES]:
        batches.append({k: torch.from_numpy(v) for k, v in feeds.items()})
        labels.append(torch.from_numpy(y))
    accumulate_gradients(model, batches, labels)
