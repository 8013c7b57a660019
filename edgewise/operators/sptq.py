"""SPTQ: static post-training int8 quantization with ONNX Runtime (QDQ format).

Weights are int8 per channel; activations uint8 by default, the pairing (U8S8) that ONNX Runtime's
x86 CPU kernels run fastest. Calibration reads the subject's calibration split, never the
evaluation split. Transformer graphs are fused by the ORT transformer optimizer first and only
their MatMul/Gemm nodes are quantized: quantizing the rest (Add, Softmax...) turns the attention
mask's large negatives into garbage and breaks accuracy. Their outputs stay float (MatMul becomes
MatMulIntegerToFloat): bias adds, layer norms and GELU read them in float anyway, and requantizing
them cost bert 0.75 points and ~8 % of the int8 latency.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edgewise.artifacts import Artifact
from edgewise.data.split import Split
from edgewise.operators.base import BuildContext, Operator

TRANSFORMER_OP_TYPES = ("MatMul", "Gemm")
QUANT_OPS = {"QuantizeLinear", "DequantizeLinear"}


class SptqParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calibration: Literal["minmax", "entropy", "percentile"] = "minmax"
    calibration_size: int = Field(default=100, ge=1, description="calibration samples")
    per_channel: bool = True
    activation_type: Literal["uint8", "int8"] = "uint8"
    op_types: list[str] | None = Field(default=None, description="op types to quantize; default: all (CNN), MatMul/Gemm (transformer)")
    requantize_outputs: bool | None = Field(
        default=None, description="quantize the outputs of quantized ops too; default: yes for CNNs (quantized "
        "ops consume them), no for transformers (float ops consume them)")
    latency_runs: int = Field(default=30, ge=1, description="runs of the build-time fp32 vs int8 comparison")


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
    requires = frozenset({"onnx", "float"})
    produces = frozenset({"onnx"})
    tolerance = 0.03
    description = "static post-training int8 quantization (ONNX Runtime, QDQ)"
    meta_keys = frozenset({"quantized_nodes", "float_nodes", "calibration", "latency", "warnings"})
    Params = SptqParams

    def apply(self, artifact: Artifact, ctx: BuildContext) -> Artifact:
        import onnx

        p: SptqParams = self.params
        calibration = ctx.subject.splits().calibration.take(p.calibration_size)
        out = ctx.workdir / "model.onnx"
        is_transformer = getattr(ctx.subject, "family", "cnn") == "transformer"
        op_types = p.op_types or (list(TRANSFORMER_OP_TYPES) if is_transformer else None)
        with tempfile.TemporaryDirectory(dir=ctx.workdir) as tmp:
            prepared = _prepare(artifact.onnx, Path(tmp), is_transformer, calibration.batch(slice(0, 1)))
            requantize = not is_transformer if p.requantize_outputs is None else p.requantize_outputs
            _quantize(prepared, out, calibration, p, op_types, requantize)
            meta = {**_census(onnx.load(str(out))), "calibration": {"method": p.calibration, "size": len(calibration)},
                    "per_channel": p.per_channel, "activation_type": p.activation_type, "weight_type": "int8",
                    "op_types": op_types or "all", "requantized_outputs": requantize}
            meta["latency"] = _compare_latency(artifact.onnx, out, calibration, p.latency_runs)
        meta["warnings"] = []
        if meta["latency"]["speedup"] <= 1.0:
            warning = (f"sptq: int8 model is not faster than fp32 on 1 thread "
                       f"({meta['latency']['int8_ms']:.2f} ms vs {meta['latency']['fp32_ms']:.2f} ms)")
            ctx.log(warning)
            meta["warnings"].append(warning)
        return Artifact(artifact.subject, artifact.chain, (out,), None, frozenset(), meta)


def _prepare(src: Path, tmp: Path, is_transformer: bool, sample: dict[str, np.ndarray] | None) -> Path:
    """Fuse and shape-annotate the float graph so that quantization sees the ops the runtime runs."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if is_transformer:
        from onnxruntime.transformers.optimizer import optimize_model

        fused = tmp / "fused.onnx"
        # num_heads/hidden_size 0: the optimizer reads them from the graph.
        optimize_model(str(src), model_type="bert", num_heads=0, hidden_size=0).save_model_to_file(str(fused))
        src = fused
    prepared = tmp / "prepared.onnx"
    # Symbolic shape inference fails on fused transformer graphs (contrib ops); the element types
    # that ONNX shape inference cannot give past them are observed by running the graph instead.
    quant_pre_process(str(src), str(prepared), skip_symbolic_shape=is_transformer)
    if is_transformer and sample is not None:
        _annotate_types(prepared, sample)
    return prepared


def _annotate_types(path: Path, sample: dict[str, np.ndarray]) -> None:
    """Give every untyped intermediate tensor the element type and rank it takes on a real sample."""
    import onnx

    from edgewise.onnxgraph import observe_tensors

    model = onnx.load(str(path))
    typed = {v.name for v in (*model.graph.value_info, *model.graph.input, *model.graph.output)}
    untyped = [o for n in model.graph.node for o in n.output if o and o not in typed]
    if not untyped:
        return
    values = observe_tensors(model, [sample], untyped)
    for name, (value,) in values.items():
        dims = [f"{name}_d{i}" for i in range(value.ndim)]
        elem = onnx.helper.np_dtype_to_tensor_dtype(value.dtype)
        model.graph.value_info.append(onnx.helper.make_tensor_value_info(name, elem, dims))
    onnx.save(model, str(path))


def _quantize(src: Path, out: Path, calibration: Split, p: SptqParams, op_types: list[str] | None,
              requantize: bool) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    model = onnx.load(str(src))
    weights = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in weights]
    quantize_static(str(src), str(out), CalibrationReader(calibration, inputs), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=op_types, per_channel=p.per_channel,
                    activation_type=QuantType.QUInt8 if p.activation_type == "uint8" else QuantType.QInt8,
                    weight_type=QuantType.QInt8, calibrate_method=methods[p.calibration],
                    extra_options={} if requantize else
                    {"OpTypesToExcludeOutputQuantization": op_types or ["Conv", "MatMul", "Gemm"]})


def _census(model) -> dict:
    """Nodes quantized (every input dequantized: the runtime fuses them into integer kernels) and
    nodes left in float, by op type."""
    dequantized = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    quantized: Counter[str] = Counter()
    floating: Counter[str] = Counter()
    for node in model.graph.node:
        if node.op_type in QUANT_OPS:
            continue
        inputs = [i for i in node.input if i]
        (quantized if inputs and all(i in dequantized for i in inputs) else floating)[node.op_type] += 1
    return {"quantized_nodes": dict(quantized), "float_nodes": dict(floating)}


def _compare_latency(fp32: Path, int8: Path, calibration: Split, runs: int) -> dict[str, float]:
    """Median single-sample latency of both models on 1 intra-op thread, spinning off."""
    from edgewise.onnxgraph import make_session, median_latency

    feeds = [calibration.batch(slice(i, i + 1)) for i in range(min(len(calibration), 8))]
    fp32_s = median_latency(make_session(fp32), feeds, runs)
    int8_s = median_latency(make_session(int8), feeds, runs)
    return {"fp32_ms": fp32_s * 1e3, "int8_ms": int8_s * 1e3, "speedup": fp32_s / int8_s, "runs": runs, "threads": 1}
