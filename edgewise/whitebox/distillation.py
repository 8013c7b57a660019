"""Knowledge-distillation loss and the teacher logits it needs, computed once and cached.

Teacher logits are indexed by sample index (training.fit hands the loss the indices of each
mini-batch), kept in memory for the build and on disk under the subject's cache directory,
keyed by the teacher artifact's content key and the exact samples, so a rebuild with another
student or temperature never runs the teacher again.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np

from edgewise.building.training import predict
from edgewise.data.split import Split


def kd_loss(student_logits, teacher_logits, labels, alpha: float, temperature: float):
    """alpha * CE(labels) + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))."""
    import torch.nn.functional as F

    t = temperature
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1),
                    reduction="batchmean", log_target=True) * (t * t)
    if alpha <= 0:
        return soft
    return alpha * F.cross_entropy(student_logits, labels) + (1 - alpha) * soft


class TeacherLogits:
    """Teacher logits for a set of training samples, from memory, disk, or one forward pass."""

    _memory: "OrderedDict[str, np.ndarray]" = OrderedDict()  # shared by the builds of one process
    _memory_entries = 8

    def __init__(self, cache_dir: Path | None, teacher_key: str):
        self.dir = None if cache_dir is None or not teacher_key else Path(cache_dir) / "teacher-logits"
        self.teacher_key = teacher_key

    def _name(self, index: np.ndarray) -> str:
        digest = hashlib.sha256(np.ascontiguousarray(index, dtype=np.int64).tobytes()).hexdigest()[:16]
        return f"{self.teacher_key or id(self)}-{digest}"

    def get(self, load_teacher: Callable[[], object], data: Split, index: np.ndarray,
            device: str = "cpu") -> np.ndarray:
        """Logits of the teacher on `data` (whose rows are samples `index` of the training split)."""
        name = self._name(index)
        if name in self._memory:
            return self._memory[name]
        path = None if self.dir is None else self.dir / f"{name}.npy"
        if path is not None and path.is_file():
            logits = np.load(path)
        else:
            logits = predict(load_teacher(), data, device=device).astype(np.float32)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                with open(tmp, "wb") as fh:
                    np.save(fh, logits)
                os.replace(tmp, path)
        if self.teacher_key:
            self._memory[name] = logits
            while len(self._memory) > self._memory_entries:
                self._memory.popitem(last=False)
        return logits


def distillation_loss_fn(teacher_logits: np.ndarray, alpha: float, temperature: float, device: str):
    """A training.fit loss_fn that looks the teacher logits up by the mini-batch's sample indices."""
    import torch

    table = torch.from_numpy(teacher_logits).to(device)

    def loss(logits, labels, index):
        return kd_loss(logits, table[torch.as_tensor(index, device=device)], labels, alpha, temperature)

    return loss
