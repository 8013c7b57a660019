"""DPTQ: dynamic post-training int8 quantization with ONNX Runtime, the variant chosen by measurement.

Weights are quantized to int8 ahead of time; activations are quantized at run time, per request,
from their own range (DynamicQuantizeLinear), so nothing is calibrated and no range fixed on other
data can clip them: what suits transformers, whose activations vary widely from input to input.
The runtime fuses each quantized MatMul with its input's quantization (DynamicQuantizeMatMul,
MatMulIntegerToFloat). As for sptq, the candidates the model allows (graph fused by ONNX Runtime's
transformer optimizer or not, per-channel weights, op types) are built, timed on the target's
thread count and scored on the calibration split, then decided per node (int8_nodes.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from edgewise.building.artifacts import Artifact
from edgewise.data.split import Split
from edgewise.operators.base import LINEAR_LAYERS, BuildContext, Operator
from edgewise.operators.int8_search import Int8Params, Prepared, choose_int8, matmuls_of_activations
from edgewise.operators.sptq_candidates import Candidate, Space
from edgewise.vocabulary import CNN, FLOAT, ONNX, TRANSFORMER

DYNAMIC = "dynamic"  # the candidates' calibration: none, ranges come from each request
TRANSFORMER_OPS = ("MatMul",)  # after fusion also the Attention nodes that hold the projections
CNN_OPS = ("Conv", "MatMul")


class DptqParams(Int8Params):
    per_channel: bool | None = Field(default=None, description="per-channel weights; default: searched")
    weight_type: Literal["int8", "uint8"] = Field(default="int8", description="int8 pairs with the uint8 activations "
                                                  "in ONNX Runtime's VNNI/AMX kernels")
    op_types: list[str] | None = Field(default=None, description="op types to quantize; default: MatMul (and fused "
                                       "Attention) for transformers, Conv and MatMul for CNNs, then searched")
    fuse: bool | None = Field(default=None, description="transformers: run ORT's transformer optimizer first; "
                              "default: searched")


def dynamic_space(is_transformer: bool, p: DptqParams) -> Space:
    """The first candidate and the single changes tried after it; what the user fixed is not searched."""
    ops = tuple(p.op_types) if p.op_types else (TRANSFORMER_OPS if is_transformer else CNN_OPS)
    first = Candidate("fused" if p.fuse is True else "plain", "qoperator", ops, True, bool(p.per_channel), False,
                      DYNAMIC, exclude=tuple(sorted(p.exclude_nodes)))
    steps: list[tuple[str, tuple[dict[str, Any], ...]]] = []
    if is_transformer and p.fuse is None:
        steps.append(("graph", ({"graph": "fused", "op_types": (*ops, "Attention")},)))
    if not is_transformer and p.op_types is None:
        steps.append(("op_types", ({"op_types": ("MatMul",)},)))  # integer convolutions are often the slower ones
    if p.per_channel is None:
        steps.append(("per_channel", ({"per_channel": True},)))
    return Space(first, tuple(steps) if p.search else (), ())


class Dptq(Operator):
    name = "dptq"
    kind = "black"
    display_order = 11
    acts_on = LINEAR_LAYERS
    requires = frozenset({ONNX, FLOAT})
    produces = frozenset({ONNX})
    tolerance = 0.03
    description = "dynamic post-training int8 quantization (ONNX Runtime): activations quantized per request"
    meta_keys = frozenset({"quantized_nodes", "float_nodes", "conversion_nodes", "latency", "warnings", "candidates",
                           "choice", "nodes", "weight_type"})
    Params = DptqParams

    def apply(self, artifact: Artifact, ctx: BuildContext) -> Artifact:
        from edgewise.onnxgraph.quantized import census  # lazy: pulls onnx

        p: DptqParams = self.params
        space = dynamic_space(getattr(ctx.subject, "family", CNN) == TRANSFORMER, p)

        def builder(prepared: Prepared, calibration: Split, candidate: Candidate, path: Path) -> None:
            quantize_dynamic_candidate(prepared.path(candidate.graph), path, candidate, p.weight_type)

        out = ctx.workdir / "model.onnx"
        chosen = choose_int8(self.name, artifact.onnx, ctx.subject, p, space, builder, out, ctx.log)
        meta = {**chosen.meta(self.name, p, census(out)), "weight_type": p.weight_type, "activations": DYNAMIC}
        for warning in meta["warnings"]:
            ctx.log(warning)
        return Artifact(artifact.subject, artifact.chain, (out,), None, frozenset(), meta)


def quantize_dynamic_candidate(src: Path, out: Path, c: Candidate, weight_type: str) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(src))
    exclude = [*c.exclude, *(matmuls_of_activations(model) if c.weights_only_matmul else [])]
    quantize_dynamic(str(src), str(out), op_types_to_quantize=list(c.op_types) if c.op_types else None,
                     per_channel=c.per_channel,
                     weight_type=QuantType.QInt8 if weight_type == "int8" else QuantType.QUInt8,
                     nodes_to_quantize=list(c.only) or None, nodes_to_exclude=exclude,
                     extra_options={"MatMulConstBOnly": c.weights_only_matmul})
