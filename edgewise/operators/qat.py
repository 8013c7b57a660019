"""QAT: quantization-aware fine-tuning, then an int8 ONNX model that runs on integer kernels."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edgewise.building.artifacts import Artifact
from edgewise.building.training import fit
from edgewise.errors import ArtifactError
from edgewise.operators.base import LINEAR_LAYERS, BuildContext, Operator
from edgewise.vocabulary import ONNX, TORCH, normalise_profile
from edgewise.whitebox.measure import integer_kernels, optimized_op_counts
from edgewise.whitebox.output import example_input, write_artifact
from edgewise.whitebox.schedule import resolve, table_fingerprint

# Reference images schedule: 8 epochs x 30 iterations, observers frozen after epoch 3, BN after
# epoch 2. Its SGD lr 0.1 wrecks an already-trained network in fine-tuning: 1e-3 keeps accuracy.
# Quick: three short epochs keep the freezing schedule (an epoch with everything frozen last).
_SCHEDULES = {
    ("quick", "cnn"): dict(epochs=3, iterations=13, batch_size=32, lr=1e-3, optimizer="sgd"),
    ("paper", "cnn"): dict(epochs=8, iterations=30, batch_size=32, lr=1e-3, optimizer="sgd"),
    ("quick", "transformer"): dict(epochs=3, iterations=13, batch_size=16, lr=2e-5, optimizer="adamw"),
    ("paper", "transformer"): dict(epochs=8, iterations=30, batch_size=16, lr=2e-5, optimizer="adamw"),
}
_FREEZE = {"quick": (2, 1), "paper": (3, 2)}  # (observers, batchnorm): epochs after which they freeze


class QatParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: Literal["auto", "fx", "eager", "linear"] = "auto"
    epochs: int | None = Field(None, ge=1, description="default: 3 quick, 8 paper")
    iterations: int | None = Field(None, ge=1, description="mini-batches per epoch (default: 20 quick, 30 paper)")
    batch_size: int | None = Field(None, ge=1)
    lr: float | None = Field(None, gt=0)
    optimizer: Literal["sgd", "adamw"] | None = None
    freeze_observers_after: int | None = Field(None, ge=0, description="epochs; default 2 quick, 3 paper")
    freeze_bn_after: int | None = Field(None, ge=0, description="epochs; default 1 quick, 2 paper")


class Qat(Operator):
    name = "qat"
    kind = "white"
    display_order = 20
    acts_on = LINEAR_LAYERS
    requires = frozenset({TORCH})
    produces = frozenset({ONNX})
    tolerance = 0.03
    description = "quantization-aware fine-tuning to int8 (fake-quantized training, integer kernels in ONNX Runtime)"
    meta_keys = frozenset({"backend", "backend_choice", "quantized", "integer_kernels", "schedule", "precision"})
    Params = QatParams

    def cache_params(self) -> dict:
        # The profile defaults and what each backend quantizes are part of what was built: changing one must rebuild.
        from edgewise.whitebox.quantize import BACKENDS  # lazy: pulls torch

        return {**self.params.model_dump(), "defaults": {"schedules": table_fingerprint(_SCHEDULES), "freeze": _FREEZE},
                "backends": {name: backend.quantizes for name, backend in BACKENDS.items()}}

    def apply(self, artifact: Artifact, ctx: BuildContext) -> Artifact:
        from edgewise.whitebox.quantize import choose_backend  # lazy: pulls torch

        p = self.params
        family = ctx.subject.family
        schedule = resolve(_SCHEDULES, self.name, ctx, p)
        freeze_obs, freeze_bn = _FREEZE[normalise_profile(ctx.profile)]
        freeze_obs = freeze_obs if p.freeze_observers_after is None else p.freeze_observers_after
        freeze_bn = freeze_bn if p.freeze_bn_after is None else p.freeze_bn_after

        backend, model, why = choose_backend(p.backend, family, ctx.load_torch(artifact), example_input(ctx))
        data, _ = schedule.training_subset(ctx.subject.training_data(), ctx.seed)

        def on_epoch(done: int) -> None:  # `done` counts from 0: freezing after epoch k means done + 1 >= k
            if done + 1 >= freeze_bn:
                backend.freeze_batchnorm(model)
            if done + 1 >= freeze_obs:
                backend.freeze_observers(model)

        precision = backend.precision(ctx.device)
        ctx.log(f"qat ({backend.name}, {why}): {schedule.epochs} epochs x {schedule.iterations} iterations, "
                f"{precision}")
        fit(model, data, **schedule.fit_kwargs(), seed=ctx.seed, device=ctx.device, on_epoch=on_epoch,
            precision=precision)
        quantized = backend.convert(model)
        out = write_artifact(quantized, ctx, artifact, {}, capabilities=self.produces, keep_torch=False)
        ops = optimized_op_counts(out.onnx)
        if not integer_kernels(ops):
            raise ArtifactError(f"qat: ONNX Runtime fused none of {ctx.subject.name}'s quantized layers into "
                                "integer kernels",
                                "try another backend (backend: fx, eager or linear)")
        out.meta = {
            "backend": backend.name,
            "backend_choice": why,
            "quantized": backend.quantizes,
            "schedule": schedule.describe(),
            "precision": precision,
            "freeze_observers_after": freeze_obs,
            "freeze_bn_after": freeze_bn,
            "integer_kernels": integer_kernels(ops),
            "quantize_linear": ops.get("QuantizeLinear", 0),
            "dequantize_linear": ops.get("DequantizeLinear", 0),
        }
        return out
