"""Automatic students: a smaller model derived from the teacher, so distillation needs no hand-written one.

- A Hugging Face model with a stack of identical layers (a transformer) keeps its configuration
  with fewer layers, initialised from the teacher's own layers (every other one, as DistilBERT
  was made); embeddings, pooler and classifier are the teacher's. Models that share one layer across depth (ALBERT) run it fewer times.
- Any other network (a CNN) becomes a thinner copy: the teacher with a fraction of the channels
  of every prunable group removed through Torch-Pruning's dependency graph (l1 magnitude), the
  kept channels' weights as the student's initialisation.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn

from edgewise.errors import PlanError
from edgewise.whitebox.structured import check_still_runs, prune_cnn_channels

RECIPE = {"transformer": "every other layer of the teacher (keep = ceil(layers x fraction))",
          "cnn": "teacher with (1 - fraction) of its channels pruned, l1 magnitude"}


def derive_student(teacher: nn.Module, example: dict[str, np.ndarray], fraction: float, num_classes: int) -> tuple[nn.Module, str]:
    """A copy of `teacher` reduced to `fraction` of its depth (transformers) or width (others), and how."""
    feeds = {k: torch.from_numpy(v) for k, v in example.items()}
    config = _hf_config(teacher)
    depth = int(getattr(config, "num_hidden_layers", 0) or 0)
    if depth and (_layer_stack(teacher, depth) is not None or getattr(config, "num_hidden_groups", depth) < depth):
        student = copy.deepcopy(teacher)
        kept = _fewer_layers(student, _hf_config(student), fraction)
        check_still_runs(student, feeds)
        return student, f"{kept} of {depth} layers of the teacher"

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


def _fewer_layers(model: nn.Module, config, fraction: float) -> int:
    depth = int(config.num_hidden_layers)
    keep_n = max(1, int(np.ceil(depth * fraction)))
    stack = _layer_stack(model, depth)
    if stack is not None:
        # Evenly spread over the depth, first layer included: 0, 2, 4... for a half.
        keep = sorted({int(round(i * depth / keep_n)) for i in range(keep_n)})
        parent, name = stack
        setattr(parent, name, nn.ModuleList([getattr(parent, name)[i] for i in keep]))
    # Shared-layer models (ALBERT) loop num_hidden_layers times over their groups: fewer repeats.
    config.num_hidden_layers = keep_n
    return keep_n


def _layer_stack(model: nn.Module, depth: int) -> tuple[nn.Module, str] | None:
    """The ModuleList holding `depth` interchangeable layers (one class, same shapes), as (parent, attribute).

    Stages of a CNN (ConvNeXt's) may be counted as hidden layers too, but differ in width: not a stack.
    """
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.ModuleList) and len(child) == depth and len({_shapes(c) for c in child}) == 1:
                return parent, name
    return None


def _shapes(layer: nn.Module) -> tuple:
    return (type(layer), tuple((k, tuple(v.shape)) for k, v in layer.state_dict().items()))
