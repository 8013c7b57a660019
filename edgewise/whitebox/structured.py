"""Structured pruning: remove whole channels (CNNs), attention heads and FFN neurons (transformers).

CNN channels go through Torch-Pruning's dependency graph, which keeps every coupled layer
consistent (residual adds, BatchNorm, grouped and depthwise convs). A transformer's heads
(attention.py) and feed-forward neurons (ffn.py) are found by what its layers do and removed
layer by layer, each removal checked against the model: its hidden width stays.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from edgewise.errors import PlanError
from edgewise.whitebox.attention import find_attention, prune_heads
from edgewise.whitebox.conv1d import linearize_conv1d
from edgewise.whitebox.ffn import find_feed_forward, neurons_to_keep, remove_neurons

Criterion = str  # l1 | l2 | taylor | random
# How structured pruning works, part of the prune artifact's key: a change of method rebuilds.
METHOD = ("cnn: torch-pruning dependency graph; transformers: FFN neurons and whole heads (groups under grouped-query "
          "attention) removed from separate, fused or gated projections, each removal checked; hidden width kept")


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


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else ""


def check_still_runs(module: nn.Module, example: dict[str, torch.Tensor]) -> None:
    """Refuse a pruned model that no longer runs: the graph missed a coupling (e.g. a LayerNorm
    applied across a permute, as in ConvNeXt), which would otherwise surface mid-training."""
    try:
        with torch.no_grad():
            module.eval()(**example)
    except Exception as exc:  # whatever the broken layer raises
        raise PlanError(f"structured pruning left {type(module).__name__} unable to run "
                        f"({type(exc).__name__}: {_first_line(exc)}): "
                        "the dependency graph missed a coupling in this architecture",
                        "use prune mode: unstructured; for distill, name a student in options.student") from None


def prune_transformer(module: nn.Module, ratio: float, criterion: Criterion, global_scope: bool, seed: int,
                      example: dict[str, torch.Tensor], num_classes: int | None = None) -> dict[str, list[int]]:
    """Remove `ratio` of the attention heads and of the feed-forward neurons in place.

    Neurons are ranked in each block or across blocks (`global_scope`); heads are always ranked
    within their attention, which keeps at least one (a global ranking can empty a layer). Whole
    heads go and the head size stays, so each attention's reshape still holds; the hidden width is
    kept, so embeddings, norms and the classifier stay as they are. Every removal is checked
    against the model (surgery.py). Returns what is left.
    """
    linearize_conv1d(module)
    attentions = find_attention(module, example)
    if not attentions:
        raise PlanError(f"structured pruning found no multi-head attention in {type(module).__name__}",
                        "transformer pruning needs attention modules stating their heads (a head count such as "
                        "num_attention_heads, or a head size such as head_dim); use mode: unstructured")
    blocks = find_feed_forward(module, example, {lin for a in attentions for lin in a.linears()})
    generator = torch.Generator().manual_seed(seed)
    module.eval()

    def run() -> torch.Tensor:
        return module(**example)

    narrowed = []
    for block, keep in zip(blocks, neurons_to_keep(blocks, ratio, criterion, global_scope, generator)):
        before = block.neurons
        if remove_neurons(block, keep, run) and block.neurons < before:
            narrowed.append(block.neurons)
    for a in attentions:
        prune_heads(a, ratio, criterion, run, generator)
    check_still_runs(module, example)
    return {"heads_per_layer": [a.heads for a in attentions], "ffn_neurons_per_layer": narrowed}


def accumulate_gradients(module: nn.Module, batches: list[dict[str, torch.Tensor]], labels: list[torch.Tensor],
                         loss: Callable = nn.functional.cross_entropy) -> None:
    """Gradients of the task loss over a few batches (what taylor importance reads)."""
    module.zero_grad(set_to_none=True)
    module.eval()
    for feeds, y in zip(batches, labels):
        loss(module(**feeds), y).backward()
