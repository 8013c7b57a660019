"""Which nodes of an int8 ONNX graph compute in integers and which stay in float, in either format.

- Operator format (QOperator, dynamic quantization): the quantizer writes integer kernels itself
  (QLinearConv, QLinearMatMul, QGemm, MatMulInteger, ...). Nodes that only move data (MaxPool,
  Reshape, Transpose, ...) on int8 tensors run in int8 too.
- QDQ format: a float op between DequantizeLinear and QuantizeLinear nodes; it computes in int8 when
  every input that carries data is dequantized (a constant input such as a Reshape's shape does not
  count) and the runtime has an integer kernel for it, which is asked of ONNX Runtime itself: a node
  it still runs in float on dequantized inputs after its QDQ fusions (a ReduceMean) stays float.
Quantize/Dequantize nodes themselves are conversions, counted apart.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import onnx

from edgewise.onnxgraph.graph import GraphIndex

CONVERSION_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})
# Kernels the quantizer writes in operator format (besides every QLinear* op).
INTEGER_OPS = frozenset({"QGemm", "MatMulInteger", "ConvInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul",
                         "QAttention", "QEmbedLayerNormalization", "QOrderedMatMul"})
# Ops that only move or select values: on int8 inputs they run in int8 and give int8 outputs.
DATA_MOVEMENT_OPS = frozenset({"MaxPool", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Concat",
                               "Slice", "Split", "Gather", "Pad", "Resize", "Identity", "DepthToSpace",
                               "SpaceToDepth", "Expand", "Tile"})


def is_integer_kernel(op_type: str) -> bool:
    return op_type.startswith("QLinear") or op_type in INTEGER_OPS


def quantized_nodes(model: onnx.ModelProto, float_after_fusion: set[str] | None = None) -> set[int]:
    """Positions of the nodes that compute on int8 data (see the module's description); `float_after_fusion`:
    names of the nodes the runtime still runs in float (`runtime_float_nodes`), None: none known."""
    still_float = float_after_fusion or set()
    index = GraphIndex.of(model)
    dequantized = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    int8_tensors: set[str] = set()
    quantized: set[str] = set()
    for position, node in enumerate(model.graph.node):
        op = node.op_type
        inputs = [i for i in node.input if i]
        dynamic = [i for i in inputs if i in index.dynamic]
        if op in CONVERSION_OPS:
            if op != "DequantizeLinear":
                int8_tensors.add(node.output[0])
            continue
        if is_integer_kernel(op):
            quantized.add(position)
            if op.startswith("QLinear") or op == "QGemm":
                int8_tensors.add(node.output[0])
        elif op in DATA_MOVEMENT_OPS and dynamic and all(i in int8_tensors for i in dynamic):
            quantized.add(position)
            int8_tensors.update(o for o in node.output if o)
        elif dynamic and all(i in dequantized for i in dynamic) and node.name not in still_float:
            quantized.add(position)  # QDQ: the runtime fuses it into an integer kernel
    return quantized


def runtime_float_nodes(path: str | Path) -> set[str]:
    """Names of the nodes ONNX Runtime still runs in float on dequantized data after its QDQ fusions."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="edgewise-census-") as tmp:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # fusions, not layouts
        opts.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        opts.log_severity_level = 3
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        optimized = onnx.load(opts.optimized_model_filepath, load_external_data=False)
    index = GraphIndex.of(optimized)
    dequantized = {n.output[0] for n in optimized.graph.node if n.op_type == "DequantizeLinear"}
    return {n.name for n in optimized.graph.node if n.op_type not in CONVERSION_OPS
            and any(i in dequantized and i in index.dynamic for i in n.input)}


def quantized_node_names(path: str | Path) -> set[str]:
    """Names of the nodes of the ONNX file at `path` that compute on int8 data."""
    model = onnx.load(str(path))
    return {model.graph.node[i].name for i in quantized_nodes(model, runtime_float_nodes(path))}


def census(path: str | Path) -> dict[str, Any]:
    """Nodes computing in int8, nodes left in float and conversions between them, by op type, of the
    quantizer's graph in the ONNX file at `path`."""
    model = onnx.load(str(path))
    quantized = quantized_nodes(model, runtime_float_nodes(path))
    counts: dict[str, Counter[str]] = {"quantized_nodes": Counter(), "float_nodes": Counter(),
                                       "conversion_nodes": Counter()}
    for position, node in enumerate(model.graph.node):
        kind = ("conversion_nodes" if node.op_type in CONVERSION_OPS
                else "quantized_nodes" if position in quantized else "float_nodes")
        counts[kind][node.op_type] += 1
    return {k: dict(sorted(v.items())) for k, v in counts.items()}
