"""Cuts: sets of tensors that separate an ONNX graph into a head and a tail.

A cut is taken at a position in the topological order of the data nodes: the tensors alive
there (made before it, read after it) are exactly what the tail needs from the head. That holds
for DAGs as well as chains: a residual block cut in its middle carries the skip tensor too.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgewise.errors import ConfigError
from edgewise.onnxgraph.graph import GraphIndex


@dataclass(frozen=True)
class Cut:
    tensors: tuple[str, ...]
    position: int  # number of data nodes in the head, in topological order

    @property
    def name(self) -> str:
        return "+".join(self.tensors)


def _lifetimes(index: GraphIndex) -> tuple[list[int], dict[str, tuple[int, int]]]:
    """Data nodes in order, and for each dynamic tensor (first position alive, last position alive)."""
    order = index.dynamic_nodes()
    pos = {node: k for k, node in enumerate(order)}
    end = len(order)
    spans: dict[str, tuple[int, int]] = {}
    for name in index.dynamic:
        born = pos[index.producer[name]] + 1 if name in index.producer else 0
        reads = [pos[c] for c in index.consumers.get(name, []) if c in pos]
        last = end if name in index.outputs else max(reads, default=-1)
        if last >= born:
            spans[name] = (born, last)
    return order, spans


def _live(spans: dict[str, tuple[int, int]], k: int) -> tuple[str, ...]:
    return tuple(sorted(t for t, (born, last) in spans.items() if born <= k <= last))


def _is_real(index: GraphIndex, tensors: tuple[str, ...]) -> bool:
    # A head that only forwards graph inputs computes nothing; a cut holding a graph output
    # would leave the tail without it.
    return any(t in index.producer for t in tensors) and not any(t in index.outputs for t in tensors)


def enumerate_cuts(index: GraphIndex, max_tensors: int = 3) -> list[Cut]:
    """Every distinct cut of at most `max_tensors` tensors with a real head and a real tail."""
    order, spans = _lifetimes(index)
    seen: set[tuple[str, ...]] = set()
    cuts = []
    for k in range(1, len(order)):
        live = _live(spans, k)
        if len(live) <= max_tensors and live not in seen and _is_real(index, live):
            seen.add(live)
            cuts.append(Cut(live, k))
    return cuts


def cut_after_prefix(index: GraphIndex, prefix: str) -> Cut:
    """The cut right after the last data node whose name starts with `prefix`."""
    order, spans = _lifetimes(index)
    matches = [k for k, node in enumerate(order) if index.nodes[node].name.startswith(prefix)]
    if not matches:
        raise ConfigError(f"partition: no node name starts with {prefix!r}",
                          "give a node name prefix from the model (e.g. as shown by Netron) or a list of tensor names")
    k = matches[-1] + 1
    live = _live(spans, k)
    if k >= len(order) or not _is_real(index, live):
        raise ConfigError(f"partition: cutting after {prefix!r} leaves no tail", "choose an earlier node or cut: auto")
    return Cut(live, k)


def validate_cut(index: GraphIndex, tensors: list[str]) -> Cut:
    """A user's cut, checked: data tensors only, separating inputs from outputs, real head and tail."""
    cut = tuple(tensors)
    for t in cut:
        if t not in index.dynamic:
            known = "a weight or constant" if t in index.producer or any(i.name == t for i in index.model.graph.initializer) \
                else "not a tensor of the model"
            raise ConfigError(f"partition: cut tensor {t!r} is {known}", "cut only tensors computed from the model's inputs")
    tail = index.ancestors(index.outputs, stop=set(cut))
    missing = index.free_inputs(tail, given=set(cut))
    if missing:
        raise ConfigError(f"partition: the cut {list(cut)} does not separate the graph; the tail also needs {sorted(missing)}",
                          "add those tensors to the cut")
    if not tail or not _is_real(index, cut):
        raise ConfigError(f"partition: the cut {list(cut)} leaves an empty head or tail", "cut inside the model")
    data_nodes = set(index.dynamic_nodes())
    head = index.ancestors(list(cut), stop=set(index.inputs))
    return Cut(cut, sum(1 for i in head if i in data_nodes))
