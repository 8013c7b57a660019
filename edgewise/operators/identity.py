"""Identity: the subject's model as it is (the baseline every chain is compared with)."""

from __future__ import annotations

from edgewise.building.artifacts import Artifact
from edgewise.operators.base import BuildContext, Operator
from edgewise.vocabulary import FLOAT, ONNX, TORCH


class Identity(Operator):
    name = "identity"
    kind = "black"
    display_order = 0
    requires = frozenset()
    produces = frozenset()
    keeps = frozenset({TORCH, ONNX, FLOAT})
    tolerance = 0.0
    description = "the unmodified model"

    def apply(self, artifact: Artifact, ctx: BuildContext) -> Artifact:
        return artifact
