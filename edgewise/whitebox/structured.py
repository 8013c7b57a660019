"""Structured pruning: remove whole channels (CNNs), attention heads and FFN neurons (transformers).

CNNs go through Torch-Pruning's dependency graph, which keeps every coupled layer (residual
adds, BatchNorm, grouped convs) consistent. Hugging Face encoders (BERT, RoBERTa, MiniLM) are
sliced here directly: their attention reshapes by head size (`view(..., -1, head_size)`), so
dropping a head's rows from query/key/value and its columns from the output projection is all
it takes, and dropping an FFN neuron is one row of `intermediate` and one column of `output`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from edgewise.errors import PlanError

Criterion = str  # l1 | l2 | taylor | random


def torch_pruning_importance(criterion: Criterion):
    import torch_pruning as tp

    if criterion == "l1":
        return tp.importance.GroupMagnitudeImportance(p=1)
    if criterion == "l2":
        return tp.importance.GroupMagnitudeImportance(p=2)
    if criterion == "taylor":
        return tp.importance.GroupTaylorImportance()
    return tp.importance.RandomImportance()


def prune_cnn_channels(module: nn.Module, example: dict[str, torch.Tensor], ratio: float, criterion: Criterion,
                       global_scope: bool, num_classes: int) -> None:
    """Remove `ratio` of the channels of every prunable group in place (classifier outputs kept)."""
    import torch_pruning as tp

    classifiers = [m for m in module.modules() if isinstance(m, nn.Linear) and m.out_features == num_classes]
    pruner = tp.pruner.MetaPruner(module, example, importance=torch_pruning_importance(criterion),
                                  pruning_ratio=ratio, global_pruning=global_scope, max_pruning_ratio=0.9,
                                  ignored_layers=classifiers)
    pruner.step()


@dataclass
class _Attention:
    block: nn.Module  # the self-attention module (query, key, value, attention_head_size)
    output: nn.Module  # holds `dense`, the projection back to the hidden size


@dataclass
class _FeedForward:
    intermediate: nn.Module  # holds `dense` (hidden -> inner)
    output: nn.Module  # holds `dense` (inner -> hidden)


def _encoder_parts(module: nn.Module) -> tuple[list[_Attention], list[_FeedForward]]:
    attentions, ffns = [], []
    for m in module.modules():
        sa = getattr(m, "self", None)
        if isinstance(sa, nn.Module) and all(isinstance(getattr(sa, n, None), nn.Linear) for n in ("query", "key", "value")) \
                and hasattr(sa, "attention_head_size") and isinstance(getattr(getattr(m, "output", None), "dense", None), nn.Linear):
            attentions.append(_Attention(sa, m.output))
        inter = getattr(m, "intermediate", None)
        if isinstance(getattr(inter, "dense", None), nn.Linear) and isinstance(getattr(getattr(m, "output", None), "dense", None), nn.Linear):
            ffns.append(_FeedForward(inter, m.output))
    if not attentions:
        raise PlanError(f"structured pruning found no BERT-style attention in {type(module).__name__}",
                        "transformer pruning supports BERT, RoBERTa and MiniLM encoders; use mode: unstructured")
    return attentions, ffns


def _row_scores(linear: nn.Linear, criterion: Criterion, rng: np.random.Generator) -> torch.Tensor:
    """Importance of each output row of `linear` (a neuron, or one dimension of a head)."""
    w = linear.weight.detach()
    if criterion == "l1":
        return w.abs().sum(1)
    if criterion == "l2":
        return w.pow(2).sum(1)
    if criterion == "taylor":
        if linear.weight.grad is None:
            raise ValueError("taylor importance needs gradients: run a backward pass first")
        return (w * linear.weight.grad).abs().sum(1)
    return torch.from_numpy(rng.random(w.shape[0])).to(w)


def _column_scores(linear: nn.Linear, criterion: Criterion, rng: np.random.Generator) -> torch.Tensor:
    w = linear.weight.detach()
    if criterion == "taylor":
        return (w * linear.weight.grad).abs().sum(0) if linear.weight.grad is not None else w.abs().sum(0)
    if criterion == "random":
        return torch.from_numpy(rng.random(w.shape[1])).to(w)
    return w.abs().sum(0) if criterion == "l1" else w.pow(2).sum(0)


def _keep_rows(linear: nn.Linear, keep: torch.Tensor) -> nn.Linear:
    new = nn.Linear(linear.in_features, len(keep), bias=linear.bias is not None).to(linear.weight)
    with torch.no_grad():
        new.weight.copy_(linear.weight[keep])
        if linear.bias is not None:
            new.bias.copy_(linear.bias[keep])
    return new


def _keep_columns(linear: nn.Linear, keep: torch.Tensor) -> nn.Linear:
    new = nn.Linear(len(keep), linear.out_features, bias=linear.bias is not None).to(linear.weight)
    with torch.no_grad():
        new.weight.copy_(linear.weight[:, keep])
        if linear.bias is not None:
            new.bias.copy_(linear.bias)
    return new


def _choose(scores: list[torch.Tensor], ratio: float, global_scope: bool) -> list[torch.Tensor]:
    """Indices to keep per layer: drop the lowest-scoring `ratio`, never a layer's last unit.

    Global scope ranks all layers together after dividing each by its mean, so layers whose
    weights are larger overall do not keep everything.
    """
    if not global_scope:
        out = []
        for s in scores:
            n_keep = max(1, len(s) - int(ratio * len(s)))
            out.append(torch.sort(torch.topk(s, n_keep).indices).values)
        return out
    normed = [s / (s.mean() + 1e-12) for s in scores]
    flat = torch.cat(normed)
    n_drop = int(ratio * len(flat))
    threshold = torch.sort(flat).values[n_drop - 1] if n_drop > 0 else flat.min() - 1
    out = []
    for s in normed:
        keep = torch.nonzero(s > threshold).flatten()
        out.append(keep if len(keep) else torch.argmax(s).reshape(1))
    return out


def prune_transformer(module: nn.Module, ratio: float, criterion: Criterion, global_scope: bool,
                      seed: int) -> dict[str, list[int]]:
    """Remove `ratio` of the attention heads and of the FFN neurons in place; returns what is left."""
    rng = np.random.default_rng(seed)
    attentions, ffns = _encoder_parts(module)

    head_scores = []
    for a in attentions:
        d = a.block.attention_head_size
        per_row = sum(_row_scores(getattr(a.block, n), criterion, rng) for n in ("query", "key", "value"))
        per_row = per_row + _column_scores(a.output.dense, criterion, rng)
        head_scores.append(per_row.reshape(-1, d).sum(1))
    for a, heads in zip(attentions, _choose(head_scores, ratio, global_scope)):
        d = a.block.attention_head_size
        rows = (heads[:, None] * d + torch.arange(d, device=heads.device)[None, :]).flatten()
        for n in ("query", "key", "value"):
            setattr(a.block, n, _keep_rows(getattr(a.block, n), rows))
        a.output.dense = _keep_columns(a.output.dense, rows)
        a.block.num_attention_heads = len(heads)
        a.block.all_head_size = len(heads) * d

    neuron_scores = [_row_scores(f.intermediate.dense, criterion, rng) + _column_scores(f.output.dense, criterion, rng)
                     for f in ffns]
    for f, keep in zip(ffns, _choose(neuron_scores, ratio, global_scope)):
        f.intermediate.dense = _keep_rows(f.intermediate.dense, keep)
        f.output.dense = _keep_columns(f.output.dense, keep)
    return {"heads_per_layer": [a.block.num_attention_heads for a in attentions],
            "ffn_neurons_per_layer": [f.intermediate.dense.out_features for f in ffns]}


def accumulate_gradients(module: nn.Module, batches: list[dict[str, torch.Tensor]], labels: list[torch.Tensor],
                         loss: Callable = nn.functional.cross_entropy) -> None:
    """Gradients of the task loss over a few batches (what taylor importance reads)."""
    module.zero_grad(set_to_none=True)
    module.eval()
    for feeds, y in zip(batches, labels):
        loss(module(**feeds), y).backward()
