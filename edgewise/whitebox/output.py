"""Writing a white-box operator's result: ONNX for the tiers, the torch module for later steps."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgewise.building.artifacts import Artifact
from edgewise.building.export import export_onnx
from edgewise.operators.base import BuildContext


def example_input(ctx: BuildContext) -> dict[str, np.ndarray]:
    """One real sample, the shape every export and latency figure uses."""
    return ctx.subject.splits().calibration.batch(slice(0, 1))


def write_artifact(module, ctx: BuildContext, source: Artifact, meta: dict[str, Any], *,
                   capabilities: frozenset[str], keep_torch: bool) -> Artifact:
    """Export `module` to ctx.workdir/model.onnx (and model.pt when white-box steps may follow)."""
    import torch

    module = module.cpu().eval()
    onnx_path = export_onnx(module, example_input(ctx), ctx.workdir / "model.onnx", ctx.subject.output_name)
    torch_path = None
    if keep_torch:
        torch_path = ctx.workdir / "model.pt"
        torch.save(module, torch_path)
    return Artifact(source.subject, source.chain, (onnx_path,), torch_path, capabilities, meta)
