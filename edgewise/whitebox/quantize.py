"""Quantization-aware training backends: fake-quantize for training, then an exportable int8 graph.

Both backends end in QuantizeLinear / DequantizeLinear pairs in the exported ONNX graph, which
ONNX Runtime fuses into integer kernels (QLinearConv, MatMulIntegerToFloat, QGemm, ...):
- `fx`: PyTorch FX graph-mode QAT of the whole network (Conv+BN+ReLU fusion, x86 qconfig), for
  CNNs. Its successor is torchao's pt2e flow; a new backend is one more class here.
- `linear`: fake-quantizes the inputs and weights of every nn.Linear and leaves the rest float.
  Hugging Face transformers (text or vision) are not FX-traceable, and their matmuls are where
  the time goes; it needs no tracing, so it takes any model with Linear layers.
A model FX cannot trace is refused with the reason and these alternatives (`untraceable`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.ao.quantization import FakeQuantize, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver

from edgewise.errors import PlanError
from edgewise.training import training_precision
from edgewise.vocabulary import CNN


class QatBackend(ABC):
    name: ClassVar[str]
    quantizes: ClassVar[str]  # what it turns to int8, for the artifact's metadata

    @abstractmethod
    def prepare(self, module: nn.Module, example: dict[str, np.ndarray]) -> nn.Module:
        """A trainable copy of `module` with fake quantization inserted."""

    def precision(self, device: str) -> str:
        """What `fit` trains the fake-quantized module in: the training precision. Under bf16 autocast
        the layers compute in bf16 and each backend keeps its fake quantization exact (fx hands it
        fp32, linear's takes bf16); the exported graph is int8 either way, and the study measures it."""
        return training_precision(device)

    def freeze_observers(self, module: nn.Module) -> None:
        module.apply(torch.ao.quantization.disable_observer)

    def freeze_batchnorm(self, module: nn.Module) -> None:
        """Stop updating BatchNorm running statistics (QAT fine-tunes against frozen ones)."""

    @abstractmethod
    def convert(self, module: nn.Module) -> nn.Module:
        """The trained module in the form whose ONNX export carries int8 weights and Q/DQ pairs."""


class FxBackend(QatBackend):
    name = "fx"
    quantizes = "every Conv, Linear, pooling and add (FX graph mode, x86 qconfig: uint8 activations, int8 weights)"

    def prepare(self, module, example):
        from torch.ao.quantization import get_default_qat_qconfig_mapping, quantize_fx

        args = tuple(torch.from_numpy(v) for v in example.values())
        try:
            prepared = quantize_fx.prepare_qat_fx(module.train(), get_default_qat_qconfig_mapping("x86"),
                                                  example_inputs=args)
        except Exception as exc:  # symbolic tracing raises whatever the model's Python does with a Proxy
            raise untraceable(module, exc) from None
        for m in prepared.modules():
            if isinstance(m, torch.ao.quantization.FakeQuantizeBase):
                m.register_forward_pre_hook(_fp32_input)
        return prepared

    def freeze_batchnorm(self, module):
        module.apply(torch.ao.nn.intrinsic.qat.freeze_bn_stats)

    def convert(self, module):
        from torch.ao.quantization import quantize_fx

        return quantize_fx.convert_fx(module.cpu().eval())


def _fp32_input(module, args):
    """A forward pre-hook: fake quantization's fused kernels take fp32 only, while a layer under bf16
    autocast may hand them bf16."""
    return tuple(a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args)


class FakeQuantLinear(nn.Module):
    """nn.Linear with uint8 per-tensor input and int8 per-channel weight fake quantization.

    Under bf16 autocast the matmul rounds the fake-quantized operands to bf16: an error of at most a
    quarter of an int8 step on the largest values."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.linear = linear
        self.input_quant = FakeQuantize(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255,
                                        dtype=torch.quint8, qscheme=torch.per_tensor_affine)
        self.weight_quant = FakeQuantize(observer=MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127,
                                         dtype=torch.qint8, qscheme=torch.per_channel_symmetric, ch_axis=0)

    def forward(self, x):
        return F.linear(self.input_quant(x), self.weight_quant(self.linear.weight), self.linear.bias)


class LinearBackend(QatBackend):
    name = "linear"
    quantizes = "nn.Linear inputs (uint8 per-tensor) and weights (int8 per-channel); attention matmuls, embeddings, LayerNorm stay float"

    def prepare(self, module, example):
        return _wrap_linears(module).train()

    def convert(self, module):
        # Observers off: the export then sees fixed scales and writes them as initializers.
        self.freeze_observers(module)
        return module.cpu().eval()


def _wrap_linears(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, FakeQuantLinear(child))
        else:
            _wrap_linears(child)
    return module


def untraceable(module: nn.Module, exc: Exception) -> PlanError:
    """Why FX graph-mode QAT refuses `module`, and what to try instead."""
    reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    has_linear = any(isinstance(m, nn.Linear) for m in module.modules())
    hint = ("backend: linear fake-quantizes only its nn.Linear layers (what transformers spend their time in); "
            if has_linear else "") + ("or make forward traceable by torch.fx (no Python control flow on tensor values, "
                                      "no data-dependent shapes), or use sptq (no tracing needed)")
    return PlanError(f"qat: torch.fx cannot trace {type(module).__name__} to insert fake quantization "
                     f"({type(exc).__name__}: {reason})", hint)


BACKENDS: dict[str, type[QatBackend]] = {b.name: b for b in (FxBackend, LinearBackend)}


def backend_for(choice: str, family: str) -> QatBackend:
    """`auto` picks fx for CNNs and linear for transformers."""
    if choice == "auto":
        choice = "fx" if family == CNN else "linear"
    return BACKENDS[choice]()
