"""OpenVINO: the chain's ONNX graph read as it is and compiled for the CPU plug-in.

An sptq artifact's QDQ graph is OpenVINO's int8 form too: its ONNX reader turns each
QuantizeLinear/DequantizeLinear pair into a FakeQuantize, which the CPU plug-in's low-precision
transformations run as integer kernels. sptq's operator-level graphs (QLinearConv, com.microsoft
QGemm, QLinearGlobalAveragePool) it cannot convert, so its cells build sptq in QDQ format
(`operator_settings`); the fused transformer graphs sptq may choose it reads in QDQ format.

The inference precision is a setting and set explicitly: on CPUs with AMX or AVX-512 BF16 OpenVINO
infers in bf16 unless told otherwise, which changes speed and predictions without any operator applied
(`openvino[precision=bf16]` asks for it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import openvino as ov
from pydantic import Field

from edgewise.runtimes.base import IOMeta, Runtime, RuntimeParams, RuntimeSession

_core: ov.Core | None = None


def core() -> ov.Core:
    global _core
    if _core is None:
        _core = ov.Core()
    return _core


class OpenVinoParams(RuntimeParams):
    precision: Literal["f32", "bf16", "f16"] = Field(default="f32", description="inference precision of float ops")
    hint: Literal["latency", "throughput"] = Field(default="latency", description="OpenVINO's performance hint")


class OpenVinoSession(RuntimeSession):
    def __init__(self, compiled):
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.inputs = [IOMeta(p.get_any_name(), np.dtype(p.get_element_type().to_dtype()).name,
                              tuple(d.get_length() if d.is_static else None for d in p.get_partial_shape()))
                       for p in compiled.inputs]
        self.outputs = [p.get_any_name() for p in compiled.outputs]
        self._count = len(compiled.outputs)

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.request.infer(feeds)
        return [self.request.get_output_tensor(i).data.copy() for i in range(self._count)]

    def close(self) -> None:
        self.request = None
        self.compiled = None


class OpenVino(Runtime):
    name = "openvino"
    package = "openvino"
    display_order = 10
    description = "OpenVINO CPU plug-in on the chain's ONNX graph (QDQ graphs run as int8)"
    Params = OpenVinoParams
    # sptq's speed control times ONNX Runtime's kernels, which say nothing of OpenVINO's.
    operator_settings = {"sptq": {"quant_format": "qdq", "speed_control": False}}
    operator_settings_reason = ("OpenVINO reads int8 ONNX graphs in QDQ format, not operator-level (QLinear*) ones, "
                                "and sptq's speed control times ONNX Runtime's kernels")

    def load(self, path: Path, threads: int, io: dict[str, Any] | None = None) -> RuntimeSession:
        p: OpenVinoParams = self.params
        # One stream on the tier's threads, unpinned: the tier's cgroup decides where it runs.
        config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "ENABLE_CPU_PINNING": False,
                  "INFERENCE_PRECISION_HINT": p.precision, "PERFORMANCE_HINT": p.hint.upper()}
        model = core().read_model(str(path))
        return OpenVinoSession(core().compile_model(model, "CPU", config))

    @staticmethod
    def save_ir(onnx_path: Path, xml_path: Path) -> list[Path]:
        """The ONNX graph as OpenVINO IR (.xml and .bin), weights kept in their precision."""
        model = ov.convert_model(str(onnx_path))
        ov.save_model(model, str(xml_path), compress_to_fp16=False)
        return [xml_path, xml_path.with_suffix(".bin")]
