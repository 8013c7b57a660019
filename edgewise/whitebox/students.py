"""Automatic students: a smaller model derived from the teacher, so distillation needs no hand-written one.

- A network built of stacks of interchangeable blocks (one class, same shapes) keeps a fraction
  of each stack, spread over its depth and initialised from the teacher's own blocks (every other
  one for a half): the layers of an encoder (BERT, ViT) or a decoder (GPT-2, Llama, Qwen2) from
  the first one, as DistilBERT was made; the blocks of each stage of a hierarchical model (Swin,
  ConvNeXt) up to the stage's last one, whose output the next stage reads. Each block comes with
  its norms and layer scales; embeddings, stems, downsampling and classifier are the teacher's.
  Models that share one layer across depth (ALBERT) run it fewer times.
- Any other network (a CNN without such stacks) becomes a thinner copy: the teacher with a
  fraction of the channels of every prunable group removed through Torch-Pruning's dependency
  graph (l1 magnitude), the kept channels' weights as the student's initialisation.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn

from edgewise.errors import PlanError
from edgewise.whitebox.structured import check_still_runs, prune_cnn_channels

RECIPE = {"stacks": "every stack of interchangeable blocks keeps ceil(blocks x fraction), evenly spread, from the "
                    "first (one stack) or to the last (stages), teacher's weights; layer indices and per-layer config "
                    "renumbered",
          "cnn": "teacher with (1 - fraction) of its channels pruned, l1 magnitude"}


def derive_student(teacher: nn.Module, example: dict[str, np.ndarray], fraction: float,
                   num_classes: int) -> tuple[nn.Module, str]:
    """A copy of `teacher` reduced to `fraction` of its depth (stacked blocks) or width (others), and how."""
    feeds = {k: torch.from_numpy(v) for k, v in example.items()}
    config = _hf_config(teacher)
    depth = int(getattr(config, "num_hidden_layers", 0) or 0)
    if depth and getattr(config, "num_hidden_groups", depth) < depth:
        # Shared-layer models (ALBERT) loop num_hidden_layers times over their groups: fewer repeats.
        student = copy.deepcopy(teacher)
        _hf_config(student).num_hidden_layers = max(1, int(np.ceil(depth * fraction)))
        check_still_runs(student, feeds)
        return student, f"{_hf_config(student).num_hidden_layers} of {depth} layers of the teacher"
    if block_stacks(teacher):
        student = copy.deepcopy(teacher)
        before, after = _shorten_stacks(student, _hf_config(student), fraction)
        check_still_runs(student, feeds)
        if len(before) == 1:
            return student, f"{after[0]} of {before[0]} layers of the teacher"
        return student, (f"{sum(after)} of {sum(before)} blocks of the teacher, each of its {len(before)} stages "
                         f"shortened ({'+'.join(map(str, before))} -> {'+'.join(map(str, after))})")

    student = copy.deepcopy(teacher).cpu().eval()
    try:
        prune_cnn_channels(student, feeds, 1.0 - fraction, "l1", False, num_classes)
    except PlanError:
        raise
    except Exception as exc:  # Torch-Pruning raises whatever its tracing meets
        raise PlanError(f"distill: no automatic student for {type(teacher).__name__}: the dependency graph failed "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})",
                        "give a student factory in the subject's options.student (package.module:factory)") from None
    return student, f"teacher with {round(100 * (1 - fraction))}% of its channels removed"


def _hf_config(module: nn.Module):
    for m in module.modules():
        config = getattr(m, "config", None)
        if config is not None and hasattr(config, "to_dict"):
            return config
    return None


def block_stacks(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """The outermost ModuleLists / Sequentials of two or more interchangeable blocks (one class, same
    parameter shapes, each a block of layers rather than one layer), as (parent, attribute)."""
    found: list[tuple[nn.Module, str]] = []
    inside: set[int] = set()
    for parent in model.modules():
        if id(parent) in inside:
            continue
        for name, child in parent.named_children():
            if isinstance(child, (nn.ModuleList, nn.Sequential)) and len(child) >= 2 and _interchangeable(list(child)):
                found.append((parent, name))
                inside.update(id(m) for m in child.modules())
    return found


def _interchangeable(blocks: list[nn.Module]) -> bool:
    return len({_shapes(b) for b in blocks}) == 1 and any(True for _ in blocks[0].children()) and \
        sum(p.numel() for p in blocks[0].parameters()) > 0


def _shapes(layer: nn.Module) -> tuple:
    return (type(layer), tuple((k, tuple(v.shape)) for k, v in layer.state_dict().items()))


def _shorten_stacks(model: nn.Module, config, fraction: float) -> tuple[list[int], list[int]]:
    """Keep ceil(n x fraction) blocks of every stack, evenly spread; update what counts them.
    Returns the blocks per stack before and after.

    One stack keeps its first block (0, 2, 4... for a half, as DistilBERT). Stages keep their last
    (1, 3, 5...): the block whose output leaves the stage. A Swin student made of each stage's first
    blocks classified 0.52 of its teacher's task before training (0.78 after the quick distillation),
    one made of the last blocks 0.997 (1.0)."""
    stacks = block_stacks(model)
    before, after = [], []
    for parent, name in stacks:
        blocks = getattr(parent, name)
        n = len(blocks)
        keep_n = max(1, int(np.ceil(n * fraction)))
        spread = {int(round(i * n / keep_n)) for i in range(keep_n)}
        keep = sorted(spread if len(stacks) == 1 else {n - 1 - i for i in spread})
        kept = [blocks[i] for i in keep]
        setattr(parent, name, nn.Sequential(*kept) if isinstance(blocks, nn.Sequential) else nn.ModuleList(kept))
        for new_index, block in enumerate(kept):
            # A decoder block addresses its cache slot by layer_idx: the student's blocks count from 0.
            for m in block.modules():
                if isinstance(getattr(m, "layer_idx", None), int):
                    m.layer_idx = new_index
        before.append(n)
        after.append(len(keep))
        if config is not None and len(stacks) == 1:
            _renumber_layers(config, n, keep)
    if config is not None and list(getattr(config, "depths", None) or []) == before:
        config.depths = after
    return before, after


def _renumber_layers(config, depth: int, keep: list[int]) -> None:
    """A one-stack model's config: fewer hidden layers, and per-layer lists (Qwen2's layer_types) kept in step."""
    if getattr(config, "num_hidden_layers", None) != depth:
        return
    config.num_hidden_layers = len(keep)
    for key, value in list(vars(config).items()):
        if "layer" in key and isinstance(value, list) and len(value) == depth:
            setattr(config, key, [value[i] for i in keep])
