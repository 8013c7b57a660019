"""Attention heads as models write them: found by what they do, removed with every coupled dimension.

An attention is a module stating its heads (a head count or a head size) whose Linear children
project one input, the hidden state, into heads x head size. Models write it as separate query,
key and value (BERT, ViT, Swin, Llama), with fewer key/value heads than query heads
(grouped-query attention: Llama, Qwen2, Mistral), or as one fused matrix (GPT-2's c_attn, once
its Conv1D is a Linear: conv1d.py). Removing a head takes its rows from every projection, its
columns from the output projection, its slice of any per-head parameter (Swin's relative
position bias table) and updates the counts the forward reads (`num_heads`, `split_size`...).

Every removal is checked by what it does: the pruned model must compute exactly what the whole
model computes with those heads' columns of the output projection zeroed. A fused matrix's
layout is not written anywhere, so each known one is tried and the one that passes is kept; an
attention none passes is refused, never left computing something else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn

from edgewise.errors import PlanError
from edgewise.whitebox.surgery import (
    Journal,
    forward_observed,
    keep_columns,
    keep_rows,
    output_with_columns_zeroed,
    same_output,
    score,
)

# Attributes attention modules keep about their heads, read at forward time by some
# (BERT's reshape by attention_head_size, GPT-2's split by split_size, DeBERTa's by the count).
HEAD_COUNT_ATTRS = ("num_attention_heads", "num_heads", "n_heads", "n_head")
HEAD_SIZE_ATTRS = ("head_dim", "attention_head_size", "head_size")
HEAD_WIDTH_ATTRS = ("all_head_size", "inner_dim", "embed_dim_heads", "split_size")
KV_COUNT_ATTRS = ("num_key_value_heads", "num_kv_heads")
KV_GROUP_ATTRS = ("num_key_value_groups",)

# Where a fused projection keeps each head's query, key and value rows (d = head size, r = query
# heads per key/value head): GPT-2 stacks [all q | all k | all v]; BLOOM and GPT-NeoX interleave
# [q k v] per head; Falcon's grouped layout puts each key/value group's r queries, key and value together.
FUSED_LAYOUTS = ("blocks", "per_head", "grouped")


@dataclass
class Attention:
    module: nn.Module  # the module stating the heads
    qkv: list[nn.Linear]  # projections of the hidden state into heads (one when fused)
    output: nn.Linear  # maps the heads back: its input columns are per head
    heads: int  # query heads
    kv_heads: int  # key/value heads (fewer under grouped-query attention)
    head_size: int
    extra: list[nn.Linear] = field(default_factory=list)  # other per-head projections (DeBERTa's position ones)

    @property
    def fused(self) -> bool:
        return len(self.qkv) == 1

    @property
    def width(self) -> int:
        return self.heads * self.head_size

    def linears(self) -> list[nn.Linear]:
        return [*self.qkv, self.output, *self.extra]


def _int_attr(module: nn.Module, names: tuple[str, ...]) -> int | None:
    for name in names:
        value = getattr(module, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _states_heads(module: nn.Module) -> bool:
    return (_int_attr(module, HEAD_COUNT_ATTRS) or _int_attr(module, HEAD_SIZE_ATTRS)) is not None and any(
        isinstance(c, nn.Linear) for c in module.children())


def find_attention(module: nn.Module, example: dict[str, torch.Tensor]) -> list[Attention]:
    """Every multi-head attention of `module`, with its projections; one forward pass on `example`
    tells which Linear sees which input, in which order, and which consumes an attention's output."""
    owners = [m for m in module.modules() if _states_heads(m)]
    if not owners:
        return []
    # Tensors are compared by where their data lives; every tensor recorded is held until the
    # comparison is done, so no address is freed and reused by another tensor during the pass.
    held: list[torch.Tensor] = []
    seen: dict[nn.Module, tuple[int, int]] = {}  # Linear -> (input pointer, call order)
    outputs: dict[nn.Module, int] = {}  # owner -> pointer of its (first) output tensor
    inputs: dict[nn.Module, set[int]] = {}  # owner -> pointers of the tensors it was given

    def pointer(t: torch.Tensor) -> int:
        held.append(t)
        return t.data_ptr()

    def record_linear(linear, args, output):
        if args and torch.is_tensor(args[0]) and linear not in seen:
            seen[linear] = (pointer(args[0]), len(seen))

    def record_owner(owner, args, kwargs, output):
        first = output[0] if isinstance(output, (tuple, list)) else output
        if owner not in outputs and torch.is_tensor(first):
            outputs[owner] = pointer(first)
            inputs[owner] = {pointer(t) for t in [*args, *kwargs.values()] if torch.is_tensor(t)}

    hooks = []

    for m in module.modules():
        if isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(record_linear))
    for owner in owners:
        hooks.append(owner.register_forward_hook(record_owner, with_kwargs=True))
    forward_observed(module, example, hooks)
    found = []
    for owner in owners:
        attention = _read_attention(owner, seen, outputs.get(owner), inputs.get(owner, set()))
        if attention is not None:
            found.append(attention)
    held.clear()
    return found


def _read_attention(owner: nn.Module, seen: dict, output_ptr: int | None, given: set[int]) -> Attention | None:
    children = [c for c in owner.children() if isinstance(c, nn.Linear) and c in seen]
    by_input: dict[int, list[nn.Linear]] = {}
    for c in children:
        by_input.setdefault(seen[c][0], []).append(c)
    if not by_input:
        return None
    qkv = max(by_input.values(), key=lambda group: sum(lin.out_features for lin in group))
    shape = _head_shape(owner, qkv)
    if shape is None:
        return None
    heads, kv_heads, head_size = shape
    width = heads * head_size
    rest = [c for c in children if c not in qkv]
    # The output projection reads what the heads computed, not a tensor the attention was given
    # (DeBERTa's position projections read the relative embeddings).
    inside = [c for c in rest if c.in_features == width and seen[c][0] not in given]
    if inside:  # the output projection runs after the heads: the last one called
        output = max(inside, key=lambda c: seen[c][1])
    else:  # written outside the attention (BERT's SelfOutput): the Linear fed the attention's output
        output = next((lin for lin, (ptr, _) in seen.items() if ptr == output_ptr and lin.in_features == width
                       and lin not in children), None)
    if output is None:
        return None
    extra = [c for c in rest if c is not output and c.out_features == width]
    return Attention(owner, qkv, output, heads, kv_heads, head_size, extra)


def _head_shape(owner: nn.Module, qkv: list[nn.Linear]) -> tuple[int, int, int] | None:
    """(query heads, key/value heads, head size) of projections `qkv`, or None if they are not heads."""
    count = _int_attr(owner, HEAD_COUNT_ATTRS)
    size = _int_attr(owner, HEAD_SIZE_ATTRS)
    if len(qkv) == 1:  # fused: q, k and v in one matrix (as many of each when only the head size is stated)
        total = qkv[0].out_features
        if count is None and size and total % (3 * size) == 0:
            count = total // (3 * size)
        if count is None or size is None and total % (3 * count):
            return None
        size = size or total // (3 * count)
        kv2 = total // size - count
        if total % size or kv2 <= 0 or kv2 % 2 or count % (kv2 // 2):
            return None
        return count, kv2 // 2, size
    if len(qkv) < 3:
        return None
    widths = [lin.out_features for lin in qkv]
    width = max(widths)
    size = size or (width // count if count and width % count == 0 else None)
    if size is None or any(w % size for w in widths) or (count and count * size != width):
        return None
    kv = min(widths) // size
    if (width // size) % kv:
        return None
    return width // size, kv, size


# --- which rows belong to which head ------------------------------------------------------------
def _fused_rows(a: Attention, layout: str, q_heads: list[int], kv_heads: list[int]) -> list[int]:
    """Rows of the fused projection for the query heads and key/value heads kept, in `layout`."""
    d, r = a.head_size, a.heads // a.kv_heads
    rows: list[int] = []
    if layout == "blocks":
        q, kv = a.heads * d, a.kv_heads * d
        for h in q_heads:
            rows += range(h * d, (h + 1) * d)
        for base in (q, q + kv):
            for g in kv_heads:
                rows += range(base + g * d, base + (g + 1) * d)
    elif layout == "per_head" and r == 1:
        for h in q_heads:
            rows += range(3 * h * d, 3 * (h + 1) * d)
    elif layout == "grouped":
        block = (r + 2) * d
        for g in kv_heads:
            kept_q = [h - g * r for h in q_heads if h // r == g]
            for i in [*kept_q, r, r + 1]:
                rows += range(g * block + i * d, g * block + (i + 1) * d)
    else:
        raise _LayoutMismatch(layout)
    return rows


def _head_rows(heads: list[int], d: int) -> list[int]:
    return [h * d + i for h in heads for i in range(d)]


class _LayoutMismatch(Exception):
    pass


# --- importance ---------------------------------------------------------------------------------
def head_importance(a: Attention, criterion: str, layout: str, generator: torch.Generator) -> torch.Tensor:
    """One score per query head: its rows in every projection and its output columns."""
    if criterion == "random":
        return torch.rand(a.heads, generator=generator)
    d, r = a.head_size, a.heads // a.kv_heads
    scores = torch.zeros(a.heads)
    out = score(a.output.weight, criterion)
    for h in range(a.heads):
        scores[h] += out[:, h * d:(h + 1) * d].sum()
        for lin in [*([] if a.fused else a.qkv), *a.extra]:
            per_head = lin.out_features // d
            head = h if per_head == a.heads else h // r
            scores[h] += score(lin.weight, criterion)[head * d:(head + 1) * d].sum() / (1 if per_head == a.heads else r)
        if a.fused:
            rows = _fused_rows(a, layout, [h], [h // r])
            scores[h] += score(a.qkv[0].weight, criterion)[rows].sum()
    return scores


def _kept_heads(a: Attention, ratio: float, scores: torch.Tensor) -> tuple[list[int], list[int]]:
    """(query heads, key/value heads) kept. Grouped-query attention loses whole groups (a key/value
    head with its queries) while it has several; a single shared key/value head keeps it and loses queries."""
    r = a.heads // a.kv_heads
    if a.kv_heads > 1:
        groups = scores.view(a.kv_heads, r).sum(1)
        keep = max(1, a.kv_heads - int(a.kv_heads * ratio))
        kv = sorted(groups.topk(keep).indices.tolist())
        return [g * r + i for g in kv for i in range(r)], kv
    keep = max(1, a.heads - int(a.heads * ratio))
    return sorted(scores.topk(keep).indices.tolist()), list(range(a.kv_heads))


# --- surgery --------------------------------------------------------------------------------------
def _per_head_parameters(a: Attention) -> list[tuple[nn.Module, str, int]]:
    """Parameters of the attention other than its projections with a dimension of one entry per
    query head (Swin's relative position bias table, [positions, heads]): (module, name, dim)."""
    projections = {id(p) for lin in a.linears() for p in lin.parameters()}
    found = []
    for m in a.module.modules():
        for name, p in m.named_parameters(recurse=False):
            dims = [i for i, n in enumerate(p.shape) if n == a.heads]
            if id(p) not in projections and dims:
                found.append((m, name, dims[-1]))
    return found


def _remove_heads(journal: Journal, a: Attention, layout: str, q_heads: list[int], kv_heads: list[int]) -> None:
    d = a.head_size
    if a.fused:
        keep_rows(journal, a.qkv[0], _fused_rows(a, layout, q_heads, kv_heads))
    else:
        for lin in a.qkv:
            keep_rows(journal, lin, _head_rows(q_heads if lin.out_features == a.width else kv_heads, d))
    for lin in a.extra:
        keep_rows(journal, lin, _head_rows(q_heads, d))
    keep_columns(journal, a.output, _head_rows(q_heads, d))
    for m, name, dim in _per_head_parameters(a):
        p = getattr(m, name)
        kept = p.detach().index_select(dim, torch.as_tensor(q_heads, dtype=torch.long)).clone()
        journal.set(m, name, nn.Parameter(kept, p.requires_grad))
    updates = [(HEAD_COUNT_ATTRS, a.heads, len(q_heads)), (KV_COUNT_ATTRS, a.kv_heads, len(kv_heads)),
               (HEAD_WIDTH_ATTRS, a.width, len(q_heads) * d),
               (KV_GROUP_ATTRS, a.heads // a.kv_heads, len(q_heads) // len(kv_heads))]
    for names, old, new in updates:
        for name in names:
            if getattr(a.module, name, None) == old and isinstance(old, int):
                journal.set(a.module, name, new)


def prune_heads(a: Attention, ratio: float, criterion: str, run: Callable[[], torch.Tensor],
                generator: torch.Generator) -> int:
    """Remove `ratio` of the heads of `a` (at least one stays); returns the query heads left.

    `run` computes the whole model's output on an example: the removal must give what zeroing the
    removed heads' output columns gives, or the attention is refused.
    """
    layouts = FUSED_LAYOUTS if a.fused else ("separate",)
    journal = Journal()
    for layout in layouts:
        try:
            q_heads, kv_heads = _kept_heads(a, ratio, head_importance(a, criterion, layout, generator))
            if len(q_heads) == a.heads:
                return a.heads
            dropped = [h for h in range(a.heads) if h not in q_heads]
            expected = output_with_columns_zeroed(run, a.output, _head_rows(dropped, a.head_size))
            _remove_heads(journal, a, layout, q_heads, kv_heads)
            with torch.no_grad():
                got = run()
        except _LayoutMismatch:
            continue
        except Exception:  # a layout that does not fit breaks the forward in whatever way the model's code does
            journal.undo()
            continue
        if same_output(got, expected):
            a.heads, a.kv_heads = len(q_heads), len(kv_heads)
            return a.heads
        journal.undo()
    raise PlanError(f"structured pruning cannot remove heads of {type(a.module).__name__}: no way of taking a head "
                    f"out of its projections ({', '.join(layouts)}) computes what the model computes without it "
                    "(a per-head tensor made outside the attention, such as BLOOM's ALiBi slopes, cannot follow)",
                    "use prune mode: unstructured, or distill (fewer layers, every head kept)")
