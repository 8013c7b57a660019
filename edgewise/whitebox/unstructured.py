"""Unstructured magnitude pruning, the reference study's kind: zeros inside dense tensors.

Shapes do not change, so dense runtimes (ONNX Runtime's default kernels) run exactly as many
multiply-accumulates as before: expect the same latency, and a smaller file only once compressed.
"""

from __future__ import annotations

import torch.nn as nn


def prunable_weights(module: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]


def mask_smallest(module: nn.Module, ratio: float, criterion: str) -> None:
    """Mask `ratio` of all Conv/Linear weights (global ranking); masks stay applied during fine-tuning."""
    from torch.nn.utils import prune

    method = prune.RandomUnstructured if criterion == "random" else prune.L1Unstructured
    prune.global_unstructured(prunable_weights(module), pruning_method=method, amount=ratio)


def make_permanent(module: nn.Module) -> float:
    """Fold the masks into the weights; returns the fraction of Conv/Linear weights that are zero."""
    from torch.nn.utils import prune

    zeros = total = 0
    for m, name in prunable_weights(module):
        if prune.is_pruned(m):
            prune.remove(m, name)
        w = getattr(m, name)
        zeros += int((w == 0).sum())
        total += w.numel()
    return zeros / max(1, total)
