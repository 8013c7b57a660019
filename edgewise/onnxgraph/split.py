"""Split an ONNX graph at a cut into a head (inputs -> cut) and a tail (cut -> outputs).

Each part carries its own copy of the weights it reads, so only the cut tensors travel.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from edgewise.onnxgraph.graph import GraphIndex
from edgewise.onnxgraph.tensors import TensorInfo

WIRE_SUFFIX = "__wire_int8"


def _has_dynamic_batch(model: onnx.ModelProto) -> bool:
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return bool(dims) and not dims[0].HasField("dim_value")


def _part(index: GraphIndex, node_ids: list[int], inputs: list[onnx.ValueInfoProto],
          outputs: list[onnx.ValueInfoProto], name: str) -> onnx.ModelProto:
    g = index.model.graph
    nodes = [g.node[i] for i in node_ids]
    read = {x for n in nodes for x in n.input} | {o.name for o in outputs}
    io = {v.name for v in inputs} | {v.name for v in outputs}
    made = {x for n in nodes for x in n.output}
    graph = helper.make_graph(
        nodes, name, inputs, outputs,
        initializer=[t for t in g.initializer if t.name in read and t.name not in io],
        value_info=[v for v in g.value_info if v.name in made and v.name not in io])
    part = helper.make_model(graph, opset_imports=index.model.opset_import, ir_version=index.model.ir_version,
                             producer_name="edgewise-partition")
    part.functions.extend(index.model.functions)
    return part


def split_model(model: onnx.ModelProto, cut: tuple[str, ...], infos: dict[str, TensorInfo]) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """Head and tail of `model` at the cut tensors (whose dtype and shape `infos` gives)."""
    index = GraphIndex.of(model)
    batch = _has_dynamic_batch(model)
    graph_inputs = {i.name: i for i in model.graph.input}
    cut_set = set(cut)
    head_nodes = index.ancestors(list(cut), stop=set(index.inputs))
    head_reads = index.free_inputs(head_nodes, given=set()) | (cut_set & set(index.inputs))
    head_inputs = [graph_inputs[n] for n in index.inputs if n in head_reads]
    cut_values = [infos[t].value_info(batch) for t in cut]
    head = _part(index, head_nodes, head_inputs, cut_values, "head")
    tail_nodes = index.ancestors(index.outputs, stop=cut_set)
    tail = _part(index, tail_nodes, cut_values, list(model.graph.output), "tail")
    return head, tail


def with_int8_wire(head: onnx.ModelProto, tail: onnx.ModelProto, scales: dict[str, float]) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """Head and tail exchanging the named float cut tensors as int8 with a per-tensor scale."""
    head, tail = _copy(head), _copy(tail)
    for name, scale in scales.items():
        wire = name + WIRE_SUFFIX
        consts = [onnx.numpy_helper.from_array(np.array(scale, np.float32), name + "__wire_scale"),
                  onnx.numpy_helper.from_array(np.array(0, np.int8), name + "__wire_zero")]
        head.graph.initializer.extend(consts)
        head.graph.node.append(helper.make_node("QuantizeLinear", [name, consts[0].name, consts[1].name], [wire],
                                                name=f"{name}__wire_quantize"))
        _retype(head.graph.output, name, wire)
        tail.graph.initializer.extend(consts)
        tail.graph.node.insert(0, helper.make_node("DequantizeLinear", [wire, consts[0].name, consts[1].name], [name],
                                                   name=f"{name}__wire_dequantize"))
        _retype(tail.graph.input, name, wire)
    return head, tail


def _retype(values, name: str, wire: str) -> None:
    for v in values:
        if v.name == name:
            v.name = wire
            v.type.tensor_type.elem_type = onnx.TensorProto.INT8


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out
