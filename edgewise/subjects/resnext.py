"""`resnext`: a ResNeXt (grouped bottleneck convolutions) on Fashion-MNIST; its student is smaller."""

from __future__ import annotations

from edgewise.subjects.fashion import FashionMNISTSubject


class ResNeXtSubject(FashionMNISTSubject):
    name = "resnext"
    teacher_arch = {"depths": [3, 3, 3], "cardinality": 8, "group_width": 8}
    student_arch = {"depths": [1, 1, 1], "cardinality": 8, "group_width": 4}
    train_hyper = {"quick": {"epochs": 1, "lr": 2e-3, "batch_size": 32, "weight_decay": 5e-4},
                   "paper": {"epochs": 12, "lr": 2e-3, "batch_size": 128, "weight_decay": 5e-4}}

    def _arch(self, **kwargs):
        from edgewise.subjects.nets.residual import ResNeXt  # lazy: pulls torch

        return ResNeXt(depths=tuple(kwargs["depths"]), cardinality=kwargs["cardinality"],
                       group_width=kwargs["group_width"])
