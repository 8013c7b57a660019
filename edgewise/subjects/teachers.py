"""Trained teachers cached under the subject's fingerprint, with their held-out quality beside them.

`<cache>/teachers/<name>-<key>.pt` holds the torch.save'd module and `<name>-<key>.json` the
fingerprint, the quality on the evaluation split and the training time, so listings can show
the quality without loading or training anything.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from edgewise.building.artifacts import content_key
from edgewise.building.training import predict, seed_everything, training_precision
from edgewise.subjects.base import Subject, score


def teacher_path(subject: Subject) -> Path:
    return subject.ctx.cache_dir / "teachers" / f"{subject.name}-{content_key(subject.fingerprint())}.pt"


def teacher_record(subject: Subject) -> dict[str, Any] | None:
    """The stored record (fingerprint, quality, train_seconds) of a trained teacher, or None."""
    meta = teacher_path(subject).with_suffix(".json")
    return json.loads(meta.read_text()) if meta.exists() else None


def teacher_missing(subject: Subject) -> bool:
    """True when the subject trains its teacher here (`trains_teacher`) and the cache has none yet."""
    return subject.trains_teacher and not teacher_path(subject).exists()


def cached_teacher(subject: Subject, train: Callable[[], Any]):
    """Load the subject's teacher from the cache, or call `train()` (-> module), evaluate and store it."""
    import torch

    path = teacher_path(subject)
    if path.exists():
        return torch.load(path, weights_only=False)
    subject.ctx.log(f"{subject.name}: training the teacher ({subject.ctx.profile} profile, {subject.ctx.device})")
    start = time.time()
    seed_everything(subject.ctx.seed)  # initial weights follow the seed, whatever ran before in this process
    module = train()
    seconds = time.time() - start
    for p in module.parameters():  # operators fine-tune the teacher: leave nothing frozen
        p.requires_grad_(True)
    module = module.cpu().eval()
    evaluation = subject.splits().evaluation
    quality, _ = score(subject.metrics, predict(module, evaluation), evaluation.labels)
    subject.ctx.log(f"{subject.name}: teacher trained in {seconds:.0f} s, "
                    + ", ".join(f"{k} {v:.3f}" for k, v in quality.items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(module, tmp)
    tmp.replace(path)
    record = {"fingerprint": subject.fingerprint(), "quality": quality, "train_seconds": round(seconds, 1),
              "train_started": round(start, 1), "precision": training_precision(subject.ctx.device)}
    path.with_suffix(".json").write_text(json.dumps(record, indent=1))
    return module
