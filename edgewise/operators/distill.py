"""Distillation: train a smaller student on the input model's soft labels.

The student is the subject's own (a built-in subject's, or the factory in a user subject's
options.student) or, when it has none, derived from the teacher (whitebox.students).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from edgewise.building.artifacts import Artifact
from edgewise.building.training import fit, seed_everything
from edgewise.operators.base import EVERY_OPERATOR, BuildContext, Operator
from edgewise.vocabulary import FLOAT, IMAGE_CLASSIFICATION, ONNX, TEXT_CLASSIFICATION, TORCH
from edgewise.whitebox.distillation import TeacherLogits, distillation_loss_fn
from edgewise.whitebox.measure import parameter_count
from edgewise.whitebox.output import example_input, write_artifact
from edgewise.whitebox.schedule import resolve, table_fingerprint

# A student starts untrained, so it needs more steps than a fine-tuning operator. Quick CNN: 6 x 120
# mini-batches; at 6 x 80 the image students stayed at ~0.85 top-1, 4.30 / 3.95 points below the
# 0.890 / 0.889 teachers (6 x 120: 2.35 / 2.05 and 1.80 / 2.45 in two builds; 6 x 160: resnet 0.9,
# ~45 s more per build).
_SCHEDULES = {
    ("quick", "cnn"): dict(epochs=6, iterations=120, batch_size=32, lr=3e-3),
    ("paper", "cnn"): dict(epochs=30, iterations=100, batch_size=32, lr=3e-3),
    ("quick", "transformer"): dict(epochs=20, iterations=30, batch_size=32, lr=2e-3),
    ("paper", "transformer"): dict(epochs=30, iterations=100, batch_size=32, lr=1e-3),
}
# Reference settings: images mix labels and soft targets at T=1; text learns from soft targets only, T=2.
_LOSS_DEFAULTS = {IMAGE_CLASSIFICATION: (0.5, 1.0), TEXT_CLASSIFICATION: (0.0, 2.0)}


class DistillParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float | None = Field(None, ge=0, le=1, description="label-loss weight (default: 0.5 images, 0 text)")
    temperature: float | None = Field(None, gt=0, description="softmax temperature (default: 1 images, 2 text)")
    epochs: int | None = Field(None, ge=1, description="default: 6 quick (20 text), 30 paper")
    iterations: int | None = Field(None, ge=1, description="mini-batches per epoch (default: 120 quick (30 text), 100 paper)")
    batch_size: int | None = Field(None, ge=1)
    lr: float | None = Field(None, gt=0)
    student_fraction: float = Field(0.5, gt=0, lt=1, description="automatic student: fraction of the teacher's "
                                    "layers (transformers) or channels (other networks) it keeps")


# An automatic student starts from the teacher's own weights: a gentler rate than a student
# trained from scratch (the rate of bert's pretrained student).
_DERIVED_STUDENT_LR = {"transformer": 5e-4}


class Distill(Operator):
    name = "distill"
    kind = "white"
    display_order = 40
    acts_on = frozenset({EVERY_OPERATOR})
    requires = frozenset({TORCH})
    produces = frozenset({TORCH, ONNX, FLOAT})
    tolerance = 0.05
    description = "knowledge distillation into the subject's student, or one derived from the teacher"
    meta_keys = frozenset({"student_parameters", "teacher_parameters", "alpha", "temperature", "epochs"})
    Params = DistillParams

    def loss_settings(self, task: str) -> tuple[float, float]:
        alpha, temperature = _LOSS_DEFAULTS.get(task, (0.5, 1.0))
        p = self.params
        return (alpha if p.alpha is None else p.alpha, temperature if p.temperature is None else p.temperature)

    def cache_params(self) -> dict:
        # The profile defaults are part of what was built: changing one must rebuild.
        return {**self.params.model_dump(), "defaults": {"schedules": table_fingerprint(_SCHEDULES), "loss": _LOSS_DEFAULTS}}

    def subject_inputs(self, subject) -> dict:
        from edgewise.whitebox.students import RECIPE  # lazy: pulls torch

        own = subject.student_fingerprint()
        return {"student": own if own is not None else {"derived": RECIPE}}

    def apply(self, artifact: Artifact, ctx: BuildContext) -> Artifact:
        from edgewise.whitebox.students import derive_student  # lazy: pulls torch

        p = self.params
        derived = ctx.subject.student_fingerprint() is None
        schedule = resolve(_SCHEDULES, self.name, ctx, p)
        if derived and p.lr is None and ctx.subject.family in _DERIVED_STUDENT_LR:
            schedule = schedule.with_overrides(lr=_DERIVED_STUDENT_LR[ctx.subject.family])
        alpha, temperature = self.loss_settings(ctx.subject.task)
        data, index = schedule.training_subset(ctx.subject.training_data(), ctx.seed)

        teacher_module = ctx.load_torch(artifact)
        logits = TeacherLogits(ctx.subject.ctx.cache_dir, artifact.key).get(lambda: teacher_module, data, index, ctx.device)
        seed_everything(ctx.seed)  # the student's initial weights follow the study seed, not earlier work
        if derived:
            student, how = derive_student(teacher_module, example_input(ctx), p.student_fraction, ctx.subject.num_classes)
            ctx.log(f"distill: automatic student, {how}")
        else:
            student, how = ctx.subject.student(), "the subject's own"
        ctx.log(f"distill: {schedule.epochs} epochs x {schedule.iterations} iterations, alpha {alpha}, T {temperature}")
        fit(student, data, **schedule.fit_kwargs(), seed=ctx.seed, device=ctx.device,
            loss_fn=distillation_loss_fn(logits, alpha, temperature, ctx.device))
        meta = {
            "student_parameters": parameter_count(student),
            "teacher_parameters": parameter_count(teacher_module),
            "student": how, "alpha": alpha, "temperature": temperature, "epochs": schedule.epochs,
            "schedule": schedule.describe(),
        }
        return write_artifact(student, ctx, artifact, meta, capabilities=self.produces, keep_torch=True)
