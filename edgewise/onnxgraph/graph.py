"""An index over an ONNX graph: who produces and consumes each tensor, and which tensors carry data.

A tensor is *dynamic* when it depends on a graph input. Everything else (initializers, Constant
nodes, weights dequantized in a QDQ graph) is constant-only: it never crosses a link, because the
part that needs it recomputes it from its own copy of the weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import onnx


@dataclass
class GraphIndex:
    model: onnx.ModelProto
    producer: dict[str, int] = field(default_factory=dict)  # tensor -> index of the node producing it
    consumers: dict[str, list[int]] = field(default_factory=dict)  # tensor -> indices of nodes reading it
    dynamic: set[str] = field(default_factory=set)  # tensors that depend on a graph input
    inputs: list[str] = field(default_factory=list)  # graph inputs that are not initializers
    outputs: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, model: onnx.ModelProto) -> "GraphIndex":
        g = model.graph
        weights = {i.name for i in g.initializer}
        index = cls(model, inputs=[i.name for i in g.input if i.name not in weights], outputs=[o.name for o in g.output])
        index.dynamic = set(index.inputs)
        for i, node in enumerate(g.node):
            for name in node.output:
                if name:
                    index.producer[name] = i
            for name in node.input:
                if name:
                    index.consumers.setdefault(name, []).append(i)
            # Graphs are stored in topological order, so one pass settles dependence on inputs.
            if any(name in index.dynamic for name in (*node.input, *_subgraph_reads(node)) if name):
                index.dynamic.update(n for n in node.output if n)
        return index

    @property
    def nodes(self):
        return self.model.graph.node

    def dynamic_nodes(self) -> list[int]:
        """Nodes that compute on data, in topological order (the positions a cut can fall between)."""
        return [i for i, node in enumerate(self.nodes) if any(n in self.dynamic for n in node.output if n)]

    def ancestors(self, targets: list[str], stop: set[str]) -> list[int]:
        """Indices (in graph order) of the nodes needed to compute `targets` given the tensors in `stop`."""
        needed: set[int] = set()
        todo = [t for t in targets if t not in stop]
        seen = set(todo)
        while todo:
            name = todo.pop()
            i = self.producer.get(name)
            if i is None or i in needed:
                continue
            needed.add(i)
            for src in self.nodes[i].input:
                if src and src not in stop and src not in seen:
                    seen.add(src)
                    todo.append(src)
        return sorted(needed)

    def free_inputs(self, node_ids: list[int], given: set[str]) -> set[str]:
        """Tensors the nodes read that neither they, the initializers nor `given` provide."""
        weights = {i.name for i in self.model.graph.initializer}
        made = {o for i in node_ids for o in self.nodes[i].output}
        read = {src for i in node_ids for src in self.nodes[i].input if src}
        read |= {src for i in node_ids for src in _subgraph_reads(self.nodes[i])}
        return read - made - weights - given


def _subgraph_reads(node: onnx.NodeProto) -> set[str]:
    """Outer-scope tensors read by the subgraphs of If/Loop/Scan nodes."""
    names: set[str] = set()
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for sub in graphs:
            local = {i.name for i in sub.input} | {i.name for i in sub.initializer}
            for n in sub.node:
                local.update(n.output)
                names.update(x for x in n.input if x and x not in local)
                names.update(_subgraph_reads(n) - local)
    return names


def name_nodes(model: onnx.ModelProto) -> None:
    """Give every unnamed node a unique name (profiles and prefix rules refer to nodes by name)."""
    used = {n.name for n in model.graph.node if n.name}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            candidate = f"{node.op_type}_{i}"
            while candidate in used:
                candidate += "_"
            node.name = candidate
            used.add(candidate)
