"""Removing rows and columns of layers in place, undoably, and checking a removal by what it does.

Structured pruning of attention heads and feed-forward neurons takes the same three steps: compute
what the model gives with the units to remove silenced (their columns of the layer that reads
them zeroed), remove them, and compare. A removal that does not reproduce that output is undone.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn


class Journal:
    """What a removal changed, so one that fails its check is undone."""

    def __init__(self):
        self.entries: list[tuple[object, str, object]] = []

    def set(self, obj, name: str, value) -> None:
        self.entries.append((obj, name, getattr(obj, name)))
        setattr(obj, name, value)

    def undo(self) -> None:
        for obj, name, old in reversed(self.entries):
            setattr(obj, name, old)
        self.entries.clear()


def keep_rows(journal: Journal, linear: nn.Linear, rows: list[int]) -> None:
    """Keep output features `rows` of `linear` (weight rows and bias entries)."""
    index = torch.as_tensor(rows, dtype=torch.long)
    journal.set(linear, "weight", nn.Parameter(linear.weight.detach()[index].clone(), linear.weight.requires_grad))
    if linear.bias is not None:
        journal.set(linear, "bias", nn.Parameter(linear.bias.detach()[index].clone(), linear.bias.requires_grad))
    journal.set(linear, "out_features", len(rows))


def keep_columns(journal: Journal, linear: nn.Linear, columns: list[int]) -> None:
    """Keep input features `columns` of `linear`."""
    index = torch.as_tensor(columns, dtype=torch.long)
    journal.set(linear, "weight", nn.Parameter(linear.weight.detach()[:, index].clone(), linear.weight.requires_grad))
    journal.set(linear, "in_features", len(columns))


def output_with_columns_zeroed(run: Callable[[], torch.Tensor], linear: nn.Linear, columns: list[int]) -> torch.Tensor:
    """What the model computes when `linear` ignores its input features `columns`."""
    saved = linear.weight.detach()[:, columns].clone()
    with torch.no_grad():
        linear.weight[:, columns] = 0
        try:
            return run()
        finally:
            linear.weight[:, columns] = saved


def same_output(got: torch.Tensor, expected: torch.Tensor) -> bool:
    """Equal up to float rounding (summation order changes when a matrix shrinks)."""
    return got.shape == expected.shape and bool(
        torch.allclose(got, expected, rtol=1e-3, atol=1e-4 * (1 + float(expected.abs().max()))))


def score(weight: torch.Tensor, criterion: str) -> torch.Tensor:
    """Per-weight importance (l1, l2, taylor = |weight x gradient|); summed over a unit's weights."""
    if criterion == "l2":
        return weight.detach().pow(2)
    if criterion == "taylor" and weight.grad is not None:
        return (weight.detach() * weight.grad).abs()
    return weight.detach().abs()


def forward_observed(module: nn.Module, example: dict[str, torch.Tensor], hooks: list) -> None:
    """One forward pass of `module` in eval mode, without gradients, observed by the forward `hooks` already
    registered on it; the hooks are removed afterwards, whatever happens."""
    try:
        with torch.no_grad():
            module.eval()(**example)
    finally:
        for h in hooks:
            h.remove()
