"""Quantization-aware training backends: fake-quantize for training, then an exportable int8 graph.

Every backend ends in QuantizeLinear / DequantizeLinear pairs in the exported ONNX graph, which
ONNX Runtime fuses into integer kernels (QLinearConv, MatMulIntegerToFloat, QGemm, ...):
- `fx`: PyTorch FX graph-mode QAT of the whole network (Conv+BN+ReLU fusion, x86 qconfig), for
  CNNs whose forward torch.fx can trace.
- `eager`: module by module, no tracing: every Conv2d becomes a fake-quantized one whose input,
  weight and output are int8 (ONNX Runtime runs it as QLinearConv), every Linear as in `linear`.
  It takes the CNNs FX cannot trace (a Hugging Face ConvNeXt: keyword inputs, output objects).
- `linear`: fake-quantizes the inputs and weights of every nn.Linear (GPT-2's Conv1D included, as
  the Linear it is) and leaves the rest float. Hugging Face transformers (text or vision) are not
  FX-traceable, and their matmuls are where the time goes.
`auto` takes fx for a CNN, eager when FX cannot trace it, and linear for a transformer; the
artifact records which ran and why (`choose_backend`).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.ao.quantization import FakeQuantize, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver

from edgewise.building.training import training_precision
from edgewise.errors import PlanError
from edgewise.vocabulary import CNN
from edgewise.whitebox.conv1d import linearize_conv1d


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


def _activation_quant() -> FakeQuantize:
    return FakeQuantize(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, dtype=torch.quint8,
                        qscheme=torch.per_tensor_affine)


class FakeQuantConv2d(nn.Module):
    """nn.Conv2d with uint8 per-tensor input and output and int8 per-channel weight fake quantization.

    The output is quantized too: ONNX Runtime fuses DequantizeLinear -> Conv -> QuantizeLinear into
    QLinearConv, while a Conv without the QuantizeLinear after it stays a float Conv fed by
    dequantized tensors (slower than the float model). The fake quantizers take fp32, whatever
    autocast hands the convolution."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv
        self.input_quant = _activation_quant()
        self.weight_quant = FakeQuantize(observer=MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127,
                                         dtype=torch.qint8, qscheme=torch.per_channel_symmetric, ch_axis=0)
        self.output_quant = _activation_quant()

    def forward(self, x):
        y = self.conv._conv_forward(self.input_quant(x.float()), self.weight_quant(self.conv.weight), self.conv.bias)
        return self.output_quant(y.float())


class LinearBackend(QatBackend):
    name = "linear"
    quantizes = ("nn.Linear (and Conv1D) inputs (uint8 per-tensor) and weights (int8 per-channel); attention matmuls, "
                 "embeddings, LayerNorm stay float")
    swaps: ClassVar[tuple[type[nn.Module], ...]] = (nn.Linear,)

    def prepare(self, module, example):
        linearize_conv1d(module)
        return _swap(module, self.swaps).train()

    def convert(self, module):
        # Observers off: the export then sees fixed scales and writes them as initializers.
        self.freeze_observers(module)
        return module.cpu().eval()


class EagerBackend(LinearBackend):
    name = "eager"
    quantizes = ("every Conv2d (uint8 input and output, int8 per-channel weights) and Linear (uint8 input, int8 "
                 "weights), module by module without tracing; norms, activations and pooling stay float")
    swaps = (nn.Linear, nn.Conv2d)

    def freeze_batchnorm(self, module):
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.momentum = 0.0  # running statistics stay where they are; training mode still normalises per batch


_FAKE_QUANT = {nn.Linear: FakeQuantLinear, nn.Conv2d: FakeQuantConv2d}


def _swap(module: nn.Module, kinds: tuple[type[nn.Module], ...]) -> nn.Module:
    for name, child in module.named_children():
        kind = next((k for k in kinds if type(child) is k), None)
        if kind is not None:
            setattr(module, name, _FAKE_QUANT[kind](child))
        else:
            _swap(child, kinds)
    return module


def untraceable(module: nn.Module, exc: Exception) -> PlanError:
    """Why FX graph-mode QAT refuses `module`, and what to try instead."""
    reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    hint = ("backend: eager (or auto) fake-quantizes its Conv2d and Linear layers module by module, without tracing; "
            "or make forward traceable by torch.fx (no Python control flow on tensor values, no data-dependent "
            "shapes), "
            "or use sptq (no tracing needed)")
    return PlanError(f"qat: torch.fx cannot trace {type(module).__name__} to insert fake quantization "
                     f"({type(exc).__name__}: {reason})", hint)


BACKENDS: dict[str, type[QatBackend]] = {b.name: b for b in (FxBackend, EagerBackend, LinearBackend)}


def choose_backend(choice: str, family: str, module: nn.Module,
                   example: dict[str, np.ndarray]) -> tuple[QatBackend, nn.Module, str]:
    """The backend that runs, `module` prepared by it, and why it was chosen.

    `auto` takes fx for a CNN and linear for a transformer; a CNN that torch.fx cannot trace goes
    to eager, which needs no trace. A backend named in the study file is used as named."""
    if choice != "auto":
        backend = BACKENDS[choice]()
        return backend, backend.prepare(module, example), "named in the study file"
    if family != CNN:
        backend = LinearBackend()
        return backend, backend.prepare(module, example), "auto: a transformer spends its time in Linear layers"
    try:
        # A copy: a trace that fails part way may have swapped some of the model's modules.
        return FxBackend(), FxBackend().prepare(copy.deepcopy(module), example), "auto: a CNN that torch.fx traces"
    except PlanError as refused:
        backend = EagerBackend()
        return backend, backend.prepare(module, example), f"auto: {refused.message}; eager needs no trace"
