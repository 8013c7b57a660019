"""Structured pruning: remove whole channels (CNNs), attention heads and FFN neurons (transformers).

Both go through Torch-Pruning's dependency graph, which keeps every coupled layer consistent
(residual adds, BatchNorm, grouped and depthwise convs; an attention's query, key and value with
its output projection). For transformers it is told each attention's head count and removes
whole heads; the attention modules are found by what they do, not by their names (find_attention).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from edgewise.errors import PlanError

Criterion = str  # l1 | l2 | taylor | random
# How structured pruning works, part of the prune artifact's key: a change of method rebuilds.
METHOD = "torch-pruning dependency graph; transformers: whole heads ranked per attention, FFN neurons, hidden width kept"


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
    check_still_runs(module, example)


def check_still_runs(module: nn.Module, example: dict[str, torch.Tensor]) -> None:
    """Refuse a pruned model that no longer runs: the graph missed a coupling (e.g. a LayerNorm
    applied across a permute, as in ConvNeXt), which would otherwise surface mid-training."""
    try:
        with torch.no_grad():
            module.eval()(**example)
    except Exception as exc:  # whatever the broken layer raises
        raise PlanError(f"structured pruning left {type(module).__name__} unable to run "
                        f"({type(exc).__name__}: {str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}): "
                        "the dependency graph missed a coupling in this architecture",
                        "use prune mode: unstructured; for distill, name a student in options.student") from None


# Attributes Hugging Face attention modules keep about their heads (the count is read at forward
# time by some, e.g. DeBERTa's `view(..., num_attention_heads, -1)`): updated after heads go.
_HEAD_COUNT_ATTRS = ("num_attention_heads", "num_heads", "n_heads")
_HEAD_WIDTH_ATTRS = ("all_head_size", "inner_dim", "embed_dim_heads")


@dataclass
class _Attention:
    module: nn.Module  # the module that owns the head count and the query/key/value projections
    qkv: list[nn.Linear]  # projections that map the hidden state to heads x head size
    heads: int


def _head_count(module: nn.Module) -> int | None:
    for attr in _HEAD_COUNT_ATTRS:
        value = getattr(module, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def find_attention(module: nn.Module, example: dict[str, torch.Tensor]) -> list[_Attention]:
    """Every multi-head attention of `module`, with its query/key/value projections.

    An attention is a module that states its head count and whose Linear children project one
    and the same input (the hidden state) into heads x head size: that is what query, key and
    value are in BERT, ALBERT, DeBERTa, ELECTRA, RoBERTa and ViT alike, whatever their names.
    One forward pass on `example` tells which Linear sees which input.
    """
    owners = [m for m in module.modules() if _head_count(m) and any(isinstance(c, nn.Linear) for c in m.children())]
    if not owners:
        return []
    seen: dict[nn.Linear, int] = {}
    hooks = []

    def record(linear: nn.Linear, args: tuple, output: torch.Tensor) -> None:
        if args:
            seen.setdefault(linear, args[0].data_ptr())

    for owner in owners:
        for child in owner.children():
            if isinstance(child, nn.Linear):
                hooks.append(child.register_forward_hook(record))
    try:
        with torch.no_grad():
            module.eval()(**example)
    finally:
        for h in hooks:
            h.remove()
    found = []
    for owner in owners:
        heads = _head_count(owner)
        by_input: dict[int, list[nn.Linear]] = {}
        for child in owner.children():
            if isinstance(child, nn.Linear) and child in seen and child.out_features % heads == 0:
                by_input.setdefault(seen[child], []).append(child)
        qkv = max(by_input.values(), key=len, default=[])
        if len(qkv) >= 3 and len({lin.out_features for lin in qkv}) == 1:
            found.append(_Attention(owner, qkv, heads))
    return found


def _frozen_width_layers(module: nn.Module, attentions: list[_Attention], num_classes: int | None) -> list[nn.Module]:
    """Layers whose output width must stay: the classifier, and whatever writes the hidden state.

    The hidden state (residual stream) runs from the embeddings through every block to the
    classifier; keeping its width means the embeddings, LayerNorms and every config-sized tensor
    stay valid. Torch-Pruning skips any group that would prune one of these layers' outputs.
    """
    qkv = {lin for a in attentions for lin in a.qkv}
    hidden = {a.qkv[0].in_features for a in attentions}
    frozen: list[nn.Module] = []
    for m in module.modules():
        if isinstance(m, nn.Embedding):
            frozen.append(m)
        elif isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)) and m not in qkv:
            width = m.out_features if isinstance(m, nn.Linear) else m.out_channels
            if width in hidden or width == num_classes:
                frozen.append(m)
    return frozen


def prune_transformer(module: nn.Module, ratio: float, criterion: Criterion, global_scope: bool,
                      seed: int, example: dict[str, torch.Tensor], num_classes: int | None = None) -> dict[str, list[int]]:
    """Remove `ratio` of the attention heads and of the feed-forward neurons in place.

    Torch-Pruning's dependency graph finds what each removal touches. Feed-forward neurons are
    ranked in each layer or across layers (`global_scope`); heads are always ranked within their
    attention, which keeps at least one (a global ranking can empty a layer). Whole heads go and
    the head size stays, so each attention's reshape still holds; the hidden width is kept.
    Returns what is left.
    """
    attentions = find_attention(module, example)
    if not attentions:
        raise PlanError(f"structured pruning found no multi-head attention in {type(module).__name__}",
                        "transformer pruning needs attention modules stating their head count "
                        "(num_attention_heads); use mode: unstructured")
    torch.manual_seed(seed)
    qkv = [lin for a in attentions for lin in a.qkv]
    widths_before = {m: m.out_features for m in module.modules() if isinstance(m, nn.Linear)}
    frozen = _frozen_width_layers(module, attentions, num_classes)
    others = [m for m in module.modules() if isinstance(m, nn.Linear) and m not in set(qkv)]
    # Neurons: every group but the attentions'. Heads: only the attentions' groups, one layer at a time.
    _prune_groups(module, example, criterion, global_scope, ratio, ignored=frozen + qkv)
    fewest = min(a.heads for a in attentions)
    head_ratio = min(ratio, (fewest - 1) / fewest - 1e-9)
    pruner = None
    if head_ratio > 0:
        pruner = _prune_groups(module, example, criterion, False, ratio, ignored=frozen + others,
                               num_heads={lin: a.heads for a in attentions for lin in a.qkv}, head_ratio=head_ratio)
    for a in attentions:
        heads = pruner.num_heads[a.qkv[0]] if pruner else a.heads
        head_size = a.qkv[0].out_features // heads
        for attr in _HEAD_COUNT_ATTRS:
            if isinstance(getattr(a.module, attr, None), int):
                setattr(a.module, attr, heads)
        for attr in _HEAD_WIDTH_ATTRS:
            if isinstance(getattr(a.module, attr, None), int):
                setattr(a.module, attr, heads * head_size)
    check_still_runs(module, example)
    narrowed = [m.out_features for m in others if m.out_features < widths_before.get(m, 0)]
    return {"heads_per_layer": [_head_count(a.module) for a in attentions], "ffn_neurons_per_layer": narrowed}


def _prune_groups(module: nn.Module, example: dict[str, torch.Tensor], criterion: Criterion, global_scope: bool,
                  ratio: float, ignored: list[nn.Module], num_heads: dict[nn.Linear, int] | None = None,
                  head_ratio: float = 0.0):
    import warnings

    import torch_pruning as tp

    with warnings.catch_warnings():
        # Parameters outside a layer (ViT's class token) belong to the hidden width, which is kept.
        warnings.filterwarnings("ignore", message="Unwrapped parameters")
        pruner = tp.pruner.MetaPruner(
            module, example, importance=torch_pruning_importance(criterion), global_pruning=global_scope,
            pruning_ratio=ratio, max_pruning_ratio=0.95, ignored_layers=ignored, num_heads=num_heads or {},
            prune_num_heads=bool(num_heads), prune_head_dims=False, head_pruning_ratio=head_ratio)
        pruner.step()
    return pruner


def accumulate_gradients(module: nn.Module, batches: list[dict[str, torch.Tensor]], labels: list[torch.Tensor],
                         loss: Callable = nn.functional.cross_entropy) -> None:
    """Gradients of the task loss over a few batches (what taylor importance reads)."""
    module.zero_grad(set_to_none=True)
    module.eval()
    for feeds, y in zip(batches, labels):
        loss(module(**feeds), y).backward()
