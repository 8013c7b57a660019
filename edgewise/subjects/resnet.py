"""`resnet`: a bottleneck wide ResNet on Fashion-MNIST; its student is shallower and narrower."""

from __future__ import annotations

from edgewise.subjects.fashion import FashionMNISTSubject


class WideResNetSubject(FashionMNISTSubject):
    name = "resnet"
    # Two blocks at full resolution, not three: cheaper per image (most of the batch-norm traffic is
    # there) and no worse after one short pass (benchmarks/results/teacher-recipes.md).
    teacher_arch = {"depths": [2, 3, 3], "base": 16, "width_factor": 4}
    student_arch = {"depths": [1, 1, 1], "base": 16, "width_factor": 2}
    train_hyper = {"quick": {"epochs": 1, "lr": 2e-3, "batch_size": 32, "weight_decay": 5e-4},
                   "paper": {"epochs": 12, "lr": 2e-3, "batch_size": 128, "weight_decay": 5e-4}}

    def _arch(self, **kwargs):
        from edgewise.subjects.nets.residual import WideResNet  # lazy: pulls torch

        return WideResNet(depths=tuple(kwargs["depths"]), base=kwargs["base"], width_factor=kwargs["width_factor"])
