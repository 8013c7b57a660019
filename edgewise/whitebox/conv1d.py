"""GPT-2's Conv1D (a Linear with its weight stored transposed) as the nn.Linear it computes.

transformers writes GPT-2's projections as `Conv1D(nf, nx)`: y = x @ W + b with W of shape
[nx, nf]. Torch-Pruning and the QAT backends know nn.Linear; swapping each Conv1D for the Linear
holding W's transpose changes no output and lets them see the model's real layers.
"""

from __future__ import annotations

import torch.nn as nn


def _conv1d_class():
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # without transformers there is no Conv1D to meet
        return None
    return Conv1D


def contains_conv1d(module: nn.Module) -> bool:
    conv1d = _conv1d_class()
    return conv1d is not None and any(isinstance(m, conv1d) for m in module.modules())


def linearize_conv1d(module: nn.Module) -> int:
    """Replace every transformers Conv1D inside `module` by an equal nn.Linear; returns how many."""
    conv1d = _conv1d_class()
    if conv1d is None:
        return 0
    swapped = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, conv1d):
                nx, nf = child.weight.shape
                linear = nn.Linear(nx, nf, bias=child.bias is not None, device=child.weight.device,
                                   dtype=child.weight.dtype)
                linear.weight = nn.Parameter(child.weight.detach().t().contiguous(), child.weight.requires_grad)
                if child.weight.grad is not None:  # taylor importance reads the gradients accumulated before
                    linear.weight.grad = child.weight.grad.t().contiguous()
                if child.bias is not None:
                    linear.bias = nn.Parameter(child.bias.detach().clone(), child.bias.requires_grad)
                    linear.bias.grad = child.bias.grad
                setattr(parent, name, linear)
                swapped += 1
    return swapped
