"""Feed-forward neurons: found by what the layers do, removed from every layer that shares them.

A feed-forward block widens the hidden state into neurons with one Linear (BERT's intermediate,
GPT-2's c_fc, Swin's fc1) or two multiplied together (a gated FFN: Llama's gate_proj and up_proj),
applies something element by element, and narrows it back with one Linear (down_proj, c_proj).
One forward pass gives the order the Linears run in: the narrowing Linear's neurons come from the
widening ones run since the last layer that wrote the hidden state. Removing a neuron takes its
row from each widening Linear and its column from the narrowing one; the removal must compute what
the model computes with that column zeroed, or the block is left whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from edgewise.whitebox.surgery import (
    Journal,
    forward_observed,
    keep_columns,
    keep_rows,
    output_with_columns_zeroed,
    same_output,
    score,
)

MAX_RATIO = 0.95  # a block keeps at least this share's complement of its neurons, whatever the global ranking


@dataclass
class FeedForward:
    widen: list[nn.Linear]  # hidden -> neurons (one, or a gate and an up projection)
    narrow: nn.Linear  # neurons -> hidden

    @property
    def neurons(self) -> int:
        return self.narrow.in_features


def find_feed_forward(module: nn.Module, example: dict[str, torch.Tensor], skip: set[nn.Module]) -> list[FeedForward]:
    """Every feed-forward block of `module` whose Linears are not in `skip` (an attention's)."""
    order: list[nn.Linear] = []
    hooks = [m.register_forward_hook(lambda lin, args, out: order.append(lin) if lin not in order else None)
             for m in module.modules() if isinstance(m, nn.Linear)]
    forward_observed(module, example, hooks)
    found = []
    for i, narrow in enumerate(order):
        if narrow in skip or narrow.in_features == narrow.out_features:
            continue
        widen = []
        for earlier in reversed(order[:i]):
            if earlier.out_features == narrow.out_features:
                break  # the last layer that wrote the hidden state: the block starts after it
            shaped = earlier.out_features == narrow.in_features and earlier.in_features == narrow.out_features
            if shaped and earlier not in skip:
                widen.append(earlier)
        if widen:
            found.append(FeedForward(widen[::-1], narrow))
    return found


def neuron_importance(block: FeedForward, criterion: str, generator: torch.Generator) -> torch.Tensor:
    if criterion == "random":
        return torch.rand(block.neurons, generator=generator)
    scores = score(block.narrow.weight, criterion).sum(0)
    for lin in block.widen:
        scores = scores + score(lin.weight, criterion).sum(1)
    return scores


def neurons_to_keep(blocks: list[FeedForward], ratio: float, criterion: str, global_scope: bool,
                    generator: torch.Generator) -> list[list[int]]:
    """Per block, the neurons kept: `ratio` removed from each block, or across blocks by one
    ranking of scores normalised by each block's mean (`global_scope`), capped at MAX_RATIO."""
    scores = [neuron_importance(b, criterion, generator) for b in blocks]
    if global_scope and blocks:
        normalised = [s / s.mean().clamp_min(1e-12) for s in scores]
        everything = torch.cat(normalised)
        n_drop = int(len(everything) * ratio)
        threshold = everything.sort().values[n_drop - 1] if n_drop else -float("inf")
        kept = []
        for s in normalised:
            floor = max(1, s.numel() - int(s.numel() * MAX_RATIO))
            keep = max(floor, int((s > threshold).sum()))
            kept.append(sorted(s.topk(keep).indices.tolist()))
        return kept
    return [sorted(s.topk(max(1, s.numel() - int(s.numel() * ratio))).indices.tolist()) for s in scores]


def remove_neurons(block: FeedForward, keep: list[int], run: Callable[[], torch.Tensor]) -> bool:
    """Keep only neurons `keep` of `block`; False (and the block whole) when the removal does not
    reproduce the model with the other neurons silenced."""
    if len(keep) == block.neurons:
        return True
    dropped = sorted(set(range(block.neurons)) - set(keep))
    expected = output_with_columns_zeroed(run, block.narrow, dropped)
    journal = Journal()
    for lin in block.widen:
        keep_rows(journal, lin, keep)
    keep_columns(journal, block.narrow, keep)
    try:
        with torch.no_grad():
            got = run()
    except Exception:  # a coupling the block does not show breaks the forward in the model's own way
        journal.undo()
        return False
    if not same_output(got, expected):
        journal.undo()
        return False
    return True
