"""Int8 that knows where it pays: which nodes of a quantized graph stay in float, and why.

The candidate search (sptq_candidates.py) chooses how to quantize (graph, format, op types, ...);
these two node-level steps then choose what to quantize, each change built for real and judged as
a candidate is (timed against the incumbent, interleaved; scored on the calibration split):

- Accuracy: when the chosen variant loses more than the accepted drop, every quantized node's
  sensitivity is measured (the output error against fp32 when only that node is quantized, and
  its int8 time from ONNX Runtime's profile), and the most sensitive nodes are reverted to float:
  the fewest that bring the drop within the bound, found by doubling then bisecting (NNCF's
  accuracy-controlled quantization; ModelOpt's sensitivity-ranked node exclusion).
- Speed: the quantized nodes are grouped by what they compute ("Conv 3x3 grouped", "MatMul
  384x1536"); the groups whose int8 kernels do not clearly beat their float kernels in the two
  graphs' profiles, costliest first, are left in float when the whole graph gets faster for it
  within the accepted drop (ONNX Runtime's grouped and depthwise int8 convolutions, for one, can
  be slower than its float ones); when a group did not pay alone, every node still in int8 is tried
  in float at once, since the conversions between int8 and float nodes can make each group alone
  not pay where all together do (on a small model int8 may pay nowhere, and the graph stays float).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from edgewise.operators.sptq_candidates import Judge, Outcome, better

# A group's int8 kernels must take at most this share of its float kernels' time to count as paying
# without a trial; profiles of single kernels are noisier than a graph's timing.
PAYS = 0.8
_SUFFIXES = re.compile(r"(_token_\d+|_quant|_nchwc)+$")


@dataclass(frozen=True)
class NodeControl:
    """What the node-level steps may do (operator parameters)."""

    accuracy: bool = True
    speed: bool = True
    max_sensitivity_nodes: int = 64  # nodes probed one by one; the others are reverted after them
    speed_trials: int = 3  # node groups tried in float, costliest first
    threads: int = 1
    profile_runs: int = 10


@dataclass
class NodeRecord:
    """What the node-level steps found: each node kept in float with its reason, and the probes."""

    kept_float: dict[str, dict[str, Any]] = field(default_factory=dict)  # node -> {op_type, reason, why}
    sensitivity: list[dict[str, Any]] = field(default_factory=list)  # most sensitive first
    groups: list[dict[str, Any]] = field(default_factory=list)  # the speed trials, in order

    def to_dict(self, shown: int = 20) -> dict[str, Any]:
        return {"kept_float": [{"node": n, **v} for n, v in self.kept_float.items()],
                "sensitivity": self.sensitivity[:shown], "sensitivity_probed": len(self.sensitivity),
                "groups": self.groups}


def original_node(kernel: str, names: set[str]) -> str | None:
    """The quantizer-graph node a kernel of ONNX Runtime's optimized graph came from (its name, after the
    suffixes the runtime's fusions and layout passes add: `_token_3`, `_quant`, `_nchwc`)."""
    if kernel in names:
        return kernel
    base = _SUFFIXES.sub("", kernel)
    if base in names:
        return base
    head = kernel.split("/MatMulScaleFusion")[0]  # a MatMul with its scale folded in keeps its name first
    return head if head in names else None


def int8_nodes(path: Path, names: set[str]) -> list[str]:
    """The float graph's names (`names`) of the nodes that compute in int8 in the quantized graph at `path`,
    in either format: the operator format renames a node it quantizes (`Conv` becomes `Conv_quant`), and a
    node known only by that name could be neither probed nor left in float."""
    from edgewise.onnxgraph.quantized import quantized_node_names

    return sorted({origin for origin in (original_node(n, names) for n in quantized_node_names(path)) if origin})


def node_times(profile, names: set[str]) -> dict[str, float]:
    """ms per run of each named node's kernels in a profile (PartProfile of one graph)."""
    times: dict[str, float] = defaultdict(float)
    for node in profile.nodes:
        origin = original_node(node.name, names)
        if origin is not None:
            times[origin] += node.ms
    return dict(times)


def signature(model, node) -> str:
    """What a node computes, as its group's name: op type and the shape of its kernel."""
    weights = {i.name: list(i.dims) for i in model.graph.initializer}
    attrs = {a.name: a for a in node.attribute}
    if node.op_type == "Conv" and len(node.input) > 1 and node.input[1] in weights:
        dims = weights[node.input[1]]
        groups = attrs["group"].i if "group" in attrs else 1
        kind = "" if groups == 1 else (" depthwise" if dims[1] == 1 else " grouped")
        return f"Conv {'x'.join(map(str, dims[2:]))}{kind}"
    if node.op_type in ("MatMul", "Gemm") and len(node.input) > 1:
        dims = weights.get(node.input[1])
        return f"{node.op_type} {'x'.join(map(str, dims))}" if dims else f"{node.op_type} of activations"
    return node.op_type


def refine(best: Outcome, attempt: Callable[[Any, Outcome], Outcome], judge: Judge, float_graph: Path,
           control: NodeControl, log: Callable[[str], None]) -> tuple[Outcome, NodeRecord]:
    """Apply the accuracy step (when the drop is too large) then the speed step to the search's winner.
    `attempt(candidate, incumbent)` builds, scores, times and records a challenger."""
    import onnx

    record = NodeRecord()
    model = onnx.load(str(float_graph))
    op_of = {n.name: n.op_type for n in model.graph.node}
    for node in best.candidate.exclude:
        record.kept_float[node] = {"op_type": op_of.get(node), "reason": "asked", "why": "named in exclude_nodes"}
    if best.error is not None:
        return best, record
    if control.accuracy and not best.accepted:
        best = _control_accuracy(best, attempt, judge, int8_nodes(best.path, set(op_of)),
                                 op_of, control, record, log)
    if control.speed and best.accepted:
        best = _control_speed(best, attempt, judge, model, float_graph, control, record, log)
    return best, record


def _int8_times(path: Path, judge: Judge, control: NodeControl, names: set[str]) -> dict[str, float]:
    from edgewise.profiling import profile_onnx

    profile = profile_onnx([path], judge.feeds, control.threads, runs=control.profile_runs)
    return node_times(profile.parts[0], names)


def _control_accuracy(best: Outcome, attempt, judge: Judge, quantized: list[str], op_of: dict[str, str],
                      control: NodeControl, record: NodeRecord, log) -> Outcome:
    times = _int8_times(best.path, judge, control, set(op_of))
    probed = quantized[: control.max_sensitivity_nodes]
    for i, node in enumerate(probed):
        error, differ = judge.output_error(replace(best.candidate, only=(node,), exclude=()), i)
        record.sensitivity.append({"node": node, "op_type": op_of[node], "output_error": round(error, 6),
                                   "top1_changed": round(differ, 4), "int8_ms": round(times.get(node, 0.0), 5)})
    record.sensitivity.sort(key=lambda s: -s["output_error"])
    ranked = [s["node"] for s in record.sensitivity] + quantized[control.max_sensitivity_nodes:]
    if not ranked:
        return best
    log(f"int8 accuracy control: {len(probed)} node(s) probed; most sensitive "
        + ", ".join(f"{s['node']} ({s['output_error']:.3g})" for s in record.sensitivity[:3]))

    def revert(k: int) -> Outcome:
        exclude = tuple(sorted({*best.candidate.exclude, *ranked[:k]}))
        return attempt(replace(best.candidate, exclude=exclude), best)

    tried: dict[int, Outcome] = {}
    low, k = 0, 1  # low: the most reverted nodes known not to be enough
    while True:
        k = min(k, len(ranked))
        tried[k] = revert(k)
        if tried[k].accepted or k == len(ranked):
            break
        low, k = k, 2 * k
    if not tried[k].accepted:  # even every node in float is not enough (or no node could be reverted)
        winner = min(tried.values(), key=lambda o: o.drop_points if o.drop_points is not None else float("inf"))
        count = next(n for n, o in tried.items() if o is winner)
    else:
        high = k
        while high - low > 1:
            mid = (low + high) // 2
            tried[mid] = revert(mid)
            low, high = (low, mid) if tried[mid].accepted else (mid, high)
        winner, count = tried[high], high
    for outcome in tried.values():
        if outcome is not winner:
            _release(outcome)
    return _adopt(best, winner, ranked[:count], op_of, record, "accuracy", record.sensitivity)


def _adopt(best: Outcome, winner: Outcome, reverted: list[str], op_of, record: NodeRecord, reason: str,
           sensitivity: list[dict[str, Any]]) -> Outcome:
    won, why = better(winner, best)
    if not won:
        _release(winner)
        return best
    _release(best)
    errors = {s["node"]: s["output_error"] for s in sensitivity}
    for rank, node in enumerate(reverted, start=1):
        detail = (f"sensitivity rank {rank}: output error {errors[node]:.3g} when only it is int8"
                  if node in errors else "not probed; reverted after the probed nodes")
        record.kept_float[node] = {"op_type": op_of.get(node), "reason": reason,
                                   "why": f"{detail}; with {len(reverted)} node(s) in float the drop is "
                                          f"{winner.drop_points:.2f} points ({why})"}
    return winner


def _control_speed(best: Outcome, attempt, judge: Judge, model, float_graph: Path, control: NodeControl,
                   record: NodeRecord, log) -> Outcome:
    from edgewise.profiling import profile_onnx

    nodes = {n.name: n for n in model.graph.node}
    quantized = int8_nodes(best.path, set(nodes))
    int8 = _int8_times(best.path, judge, control, set(nodes))
    fp32 = node_times(profile_onnx([float_graph], judge.feeds, control.threads, runs=control.profile_runs).parts[0],
                      set(nodes))
    groups: dict[str, list[str]] = defaultdict(list)
    for name in quantized:
        groups[signature(model, nodes[name])].append(name)
    candidates = []
    for name, members in groups.items():
        int8_ms = sum(int8.get(m, 0.0) for m in members)
        known = all(m in fp32 for m in members)
        fp32_ms = sum(fp32.get(m, 0.0) for m in members) if known else None
        if int8_ms > 0 and (fp32_ms is None or int8_ms > PAYS * fp32_ms):
            candidates.append((name, members, int8_ms, fp32_ms))
    candidates.sort(key=lambda c: -(c[2] - (c[3] or 0.0)))
    tried = candidates[: control.speed_trials]
    for name, members, int8_ms, fp32_ms in tried:
        versus = f"float kernels {fp32_ms:.3f} ms" if fp32_ms is not None else "float kernels not matched by name"
        best = _try_in_float(best, attempt, members, name, f"int8 kernels {int8_ms:.3f} ms against {versus}",
                             {"int8_ms": round(int8_ms, 5), "fp32_ms": None if fp32_ms is None else round(fp32_ms, 5)},
                             nodes, record, log)
    # Each group alone may not pay for the conversions its float neighbours still need while all of them
    # together do, and on a small model int8 may pay nowhere: every node still in int8, in float at once.
    rest = [n for n in quantized if n not in record.kept_float]
    if rest and any(not g["kept_float"] for g in record.groups):
        best = _try_in_float(best, attempt, rest, "every node still in int8",
                             "int8 did not pay group by group; all of them in float at once",
                             {"int8_ms": round(sum(int8.get(n, 0.0) for n in rest), 5), "fp32_ms": None}, nodes,
                             record, log)
    return best


def _try_in_float(best: Outcome, attempt, members: list[str], name: str, detail: str, figures: dict[str, Any],
                  nodes: dict, record: NodeRecord, log) -> Outcome:
    """One speed trial: the incumbent with `members` in float too, kept when the graph gets faster."""
    challenger = attempt(replace(best.candidate, exclude=tuple(sorted({*best.candidate.exclude, *members}))), best)
    won, why = better(challenger, best)
    record.groups.append({"group": name, "nodes": len(members), **figures, "kept_float": won, "verdict": why})
    log(f"int8 speed control: {name} ({len(members)} node(s)) in float: {'kept' if won else 'rejected'}, {why}")
    if not won:
        _release(challenger)
        return best
    for node in members:
        record.kept_float[node] = {"op_type": nodes[node].op_type, "reason": "speed",
                                   "why": f"group {name}: {detail}; the graph with them in float was {why}"}
    _release(best)
    return challenger


def _release(outcome: Outcome) -> None:
    outcome.session = None  # a loser's session holds its model's weights; only the incumbent is timed again


def drop_sessions(outcomes: list[Outcome], keep: Outcome) -> None:
    for o in outcomes:
        if o is not keep:
            _release(o)

