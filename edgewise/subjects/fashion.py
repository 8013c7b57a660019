"""The Fashion-MNIST image subjects' common part: data, splits, capture inputs, preprocessing.

The exported model takes the preprocessed tensor [N, 1, 28, 28] (`pixel_values`); a client
sends the image as a camera would, upscaled to the capture resolution as a JPEG, and the
serving tier decodes, converts to grayscale, resizes and normalises it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgewise.building.training import fit
from edgewise.data.fashion_mnist import MEAN, STD, load_fashion_mnist
from edgewise.data.images import encode_capture
from edgewise.data.split import Split, Splits, disjoint_indices
from edgewise.subjects.base import Subject, SubjectContext
from edgewise.subjects.teachers import cached_teacher, teacher_record
from edgewise.vocabulary import CNN, IMAGE_CLASSIFICATION, QUICK, normalise_profile

RESOLUTION = 28
# Sizes of the splits per profile. Quick: as many training images as one pass of both teachers can
# see within the teacher budget; fewer cost points (benchmarks/results/teacher-recipes.md).
PROFILE_SIZES = {
    "quick": {"train": 20000, "calibration": 200, "evaluation": 2000},
    "paper": {"train": 59800, "calibration": 200, "evaluation": 10000},
}


class FashionMNISTSubject(Subject):
    task = IMAGE_CLASSIFICATION
    family = CNN
    trains_teacher = True
    input_names = ("pixel_values",)
    # Subclasses set the architectures' keyword arguments and the training hyper-parameters.
    teacher_arch: dict[str, Any] = {}
    student_arch: dict[str, Any] = {}
    train_hyper: dict[str, dict[str, float]] = {}

    def __init__(self, ctx: SubjectContext, capture_size: tuple[int, int] = (224, 224), jpeg_quality: int = 90):
        super().__init__(ctx)
        self.capture_size = tuple(capture_size)
        self.jpeg_quality = jpeg_quality

    def _arch(self, **kwargs):
        raise NotImplementedError

    def _sizes(self) -> dict[str, int]:
        return PROFILE_SIZES.get(normalise_profile(self.ctx.profile), PROFILE_SIZES[QUICK])

    def _hyper(self) -> dict[str, float]:
        return self.train_hyper.get(normalise_profile(self.ctx.profile), self.train_hyper[QUICK])

    def preprocessing(self) -> dict[str, Any]:
        return {"kind": "image", "size": [RESOLUTION, RESOLUTION], "channels": 1, "mean": [MEAN], "std": [STD],
                "input": "pixel_values"}

    def _raw(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """uint8 images and labels of each split (train and calibration from the train file, evaluation from t10k)."""
        if not hasattr(self, "_raw_splits"):
            sizes = self._sizes()
            x, y = load_fashion_mnist("train")
            train, cal, _ = disjoint_indices(len(x), (sizes["train"], sizes["calibration"], 0), self.ctx.seed)
            xt, yt = load_fashion_mnist("t10k")
            ev = np.sort(np.random.default_rng(self.ctx.seed + 1).permutation(len(xt))[: sizes["evaluation"]])
            # Row numbers in the source files, kept so disjointness can be checked.
            self.split_indices = {"train": train, "calibration": cal, "evaluation": ev}
            self._raw_splits = {"train": (x[train], y[train]), "calibration": (x[cal], y[cal]),
                                "evaluation": (xt[ev], yt[ev])}
        return self._raw_splits

    def splits(self) -> Splits:
        if not hasattr(self, "_splits"):
            def model_ready(images: np.ndarray, labels: np.ndarray) -> Split:
                x = (images[:, None].astype(np.float32) / 255.0 - MEAN) / STD
                return Split({"pixel_values": x.astype(np.float32)}, labels)

            raw = self._raw()
            self._splits = Splits(*(model_ready(*raw[k]) for k in ("train", "calibration", "evaluation")))
        return self._splits

    def latency_inputs(self, n: int) -> list[bytes]:
        images, _ = self._raw()["evaluation"]
        return [encode_capture(images[i % len(images)], self.capture_size, self.jpeg_quality) for i in range(n)]

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "arch": self.teacher_arch, "data": {"dataset": "fashion-mnist", **self._sizes()},
                "train": self._hyper()}

    def teacher(self):
        hyper = self._hyper()

        def train():
            return fit(self._arch(**self.teacher_arch), self.splits().train, epochs=hyper["epochs"], lr=hyper["lr"],
                       batch_size=int(hyper["batch_size"]), weight_decay=hyper.get("weight_decay", 0.0),
                       seed=self.ctx.seed, device=self.ctx.device, log=self.ctx.log)

        return cached_teacher(self, train)

    def student(self):
        return self._arch(**self.student_arch)

    def describe(self) -> dict[str, Any]:
        record = teacher_record(self)
        return {**super().describe(), "dataset": "Fashion-MNIST",
                "parameters": sum(p.numel() for p in self._arch(**self.teacher_arch).parameters()),
                "input": f"image {self.capture_size[1]}x{self.capture_size[0]} JPEG -> 1x{RESOLUTION}x{RESOLUTION}",
                "teacher_quality": record["quality"] if record else None}
