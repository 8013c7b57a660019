"""SPTQ: static post-training int8 quantization with ONNX Runtime, the variant chosen by measurement.

Weights are int8, activations uint8 by default, the pairing (U8S8) that ONNX Runtime's x86 CPU
kernels run fastest. Calibration reads the subject's calibration split, never the evaluation
split. Which variant is fastest (graph fused or not, QDQ or operator-level format, op types,
per-channel weights, requantized outputs, calibration method) depends on the model and the
runtime, so the candidates the model allows are built, timed on the target's thread count and
scored on the calibration split, and the fastest within the accepted accuracy drop is kept
(sptq_candidates.py). Every candidate and the reason for the choice are recorded in the artifact.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from edgewise.building.artifacts import Artifact
from edgewise.data.split import Split
from edgewise.operators.base import LINEAR_LAYERS, BuildContext, Operator
from edgewise.operators.int8_search import Int8Params, Prepared, choose_int8, matmuls_of_activations
from edgewise.operators.sptq_candidates import Candidate, candidate_space
from edgewise.vocabulary import CNN, FLOAT, ONNX, TRANSFORMER


class SptqParams(Int8Params):
    calibration: Literal["minmax", "entropy", "percentile"] | None = Field(
        default=None, description="calibration method; default: minmax, others tried when it loses too much accuracy")
    per_channel: bool | None = Field(default=None, description="per-channel weights; default: searched")
    activation_type: Literal["uint8", "int8"] = "uint8"
    op_types: list[str] | None = Field(default=None, description="op types to quantize; default: searched (all or "
                                       "Conv/Gemm/MatMul for CNNs, weight MatMuls or MatMul/Gemm for transformers)")
    requantize_outputs: bool | None = Field(
        default=None, description="quantize the outputs of quantized ops too (QDQ); default: searched for CNNs, "
        "no for transformers (float ops consume them)")
    quant_format: Literal["qdq", "qoperator"] | None = Field(default=None, description="default: searched")
    fuse: bool | None = Field(default=None, description="transformers: run ORT's transformer optimizer first; "
                              "default: searched")


class CalibrationReader:
    """Feeds calibration samples one at a time (onnxruntime's CalibrationDataReader protocol)."""

    def __init__(self, split: Split, input_names: list[str]):
        self._samples = [{n: split.inputs[n][i : i + 1] for n in input_names} for i in range(len(split))]
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self._samples):
            return None
        self._next += 1
        return self._samples[self._next - 1]

    def rewind(self) -> None:
        self._next = 0


class Sptq(Operator):
    name = "sptq"
    kind = "black"
    display_order = 10
    acts_on = LINEAR_LAYERS
    requires = frozenset({ONNX, FLOAT})
    produces = frozenset({ONNX})
    tolerance = 0.03
    description = "static post-training int8 quantization (ONNX Runtime), the fastest accurate variant measured"
    meta_keys = frozenset({"quantized_nodes", "float_nodes", "conversion_nodes", "calibration", "latency", "warnings",
                           "candidates", "choice", "nodes"})
    Params = SptqParams

    def apply(self, artifact: Artifact, ctx: BuildContext) -> Artifact:
        from edgewise.onnxgraph.quantized import census  # lazy: pulls onnx

        p: SptqParams = self.params
        is_transformer = getattr(ctx.subject, "family", CNN) == TRANSFORMER
        space = candidate_space(is_transformer, calibration=p.calibration, per_channel=p.per_channel,
                                op_types=p.op_types, requantize=p.requantize_outputs, quant_format=p.quant_format,
                                fuse=p.fuse, search=p.search, exclude=p.exclude_nodes)

        out = ctx.workdir / "model.onnx"
        chosen = choose_int8(self.name, artifact.onnx, ctx.subject, p, space,
                             partial(build_candidate, activation_type=p.activation_type), out, ctx.log)
        c = chosen.best.candidate
        meta = {**chosen.meta(self.name, p, census(out)),
                "calibration": {"method": c.calibration, "size": chosen.calibration_size},
                "activation_type": p.activation_type, "weight_type": "int8", "requantized_outputs": c.requantize}
        for warning in meta["warnings"]:
            ctx.log(warning)
        return Artifact(artifact.subject, artifact.chain, (out,), None, frozenset(), meta)


def build_candidate(prepared: Prepared, calibration: Split, candidate: Candidate, out: Path,
                    activation_type: str = "uint8") -> None:
    """Quantize one candidate of the prepared graph to `out`, with the ranges its siblings calibrated."""
    _quantize(prepared.path(candidate.graph), out, calibration, candidate, activation_type, prepared.ranges(candidate))


def _quantize(src: Path, out: Path, calibration: Split, c: Candidate, activation_type: str, ranges: Path) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    model = onnx.load(str(src))
    weights = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in weights]
    extra: dict = {"MatMulConstBOnly": c.weights_only_matmul}
    if c.format == "qdq" and not c.requantize:
        extra["OpTypesToExcludeOutputQuantization"] = list(c.op_types or ("Conv", "MatMul", "Gemm"))
    # The QDQ quantizer ignores MatMulConstBOnly: a weights-only candidate names the MatMuls to leave out.
    exclude = [*c.exclude, *(matmuls_of_activations(model) if c.weights_only_matmul else [])]
    quantize_static(str(src), str(out), CalibrationReader(calibration, inputs),
                    quant_format=QuantFormat.QDQ if c.format == "qdq" else QuantFormat.QOperator,
                    op_types_to_quantize=list(c.op_types) if c.op_types else None, per_channel=c.per_channel,
                    activation_type=QuantType.QUInt8 if activation_type == "uint8" else QuantType.QInt8,
                    weight_type=QuantType.QInt8, calibrate_method=methods[c.calibration], extra_options=extra,
                    nodes_to_quantize=list(c.only) or None, nodes_to_exclude=exclude,
                    **_ranges_cache(quantize_static, ranges))


def _ranges_cache(quantize_static, ranges: Path) -> dict:
    """onnxruntime >= 1.32 reads calibrated ranges from this file when it exists and writes them when
    it does not; older versions calibrate every time."""
    import inspect

    known = inspect.signature(quantize_static).parameters
    return {"calibration_cache_path": ranges} if "calibration_cache_path" in known else {}
