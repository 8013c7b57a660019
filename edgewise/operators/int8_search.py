"""What the int8 operators (sptq: static, dptq: dynamic) share: the float graph prepared for a
quantizer, the search over candidates and nodes, the final fp32-against-int8 timing and the record.

Each operator brings its candidate space and the function that quantizes one candidate; the rest
is the same: candidates built, scored on the calibration split against fp32 and timed against the
incumbent on the target's thread count (sptq_candidates.py), then the node-level accuracy and speed
steps (int8_nodes.py), then fp32 and the chosen int8 graph timed side by side.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edgewise.data.batching import fixed_batch, run_batched
from edgewise.data.split import Split
from edgewise.operators.int8_nodes import NodeControl, NodeRecord, drop_sessions, refine
from edgewise.operators.sptq_candidates import Candidate, Judge, Outcome, Space, better, search, why_it_won
from edgewise.subjects import score
from edgewise.tiers.session_latency import interleaved_latency


class Int8Params(BaseModel):
    """The parameters every int8 operator takes: how it searches, judges and decides per node."""

    model_config = ConfigDict(extra="forbid")

    calibration_size: int = Field(default=100, ge=1, description="calibration samples (scoring; sptq: calibrating)")
    search: bool = Field(default=True, description="try the candidates; false: build the first one only")
    max_accuracy_drop: float = Field(default=1.0, ge=0, description="points of the metric on the calibration split "
                                     "a candidate may lose against fp32")
    threads: int = Field(default=1, ge=1, description="intra-op threads candidates are timed on (the target tier's)")
    search_runs: int = Field(default=30, ge=1, description="timed runs per candidate against the incumbent (blocks "
                             "of 10 taking turns: a burst of load on a shared host lands on both)")
    confirm_close_calls: bool = Field(default=True, description="time a challenger again, over twice search_runs, "
                                      "when it is neither clearly faster nor slower than the incumbent")
    latency_runs: int = Field(default=30, ge=1, description="runs of the final fp32 vs int8 comparison")
    accuracy_control: bool = Field(default=True, description="when the chosen variant drops too much, leave its most "
                                   "sensitive nodes in float until the drop is within max_accuracy_drop")
    speed_control: bool = Field(default=True, description="leave node groups in float whose int8 kernels make the "
                                "graph slower (tried costliest first, kept when the graph gets faster)")
    max_sensitivity_nodes: int = Field(default=64, ge=1, description="nodes probed one by one by accuracy control")
    speed_trials: int = Field(default=3, ge=0, description="node groups speed control tries in float")
    exclude_nodes: list[str] = Field(default_factory=list, description="nodes to leave in float, by name")

    def node_control(self) -> NodeControl:
        return NodeControl(accuracy=self.accuracy_control and self.search, speed=self.speed_control and self.search,
                           max_sensitivity_nodes=self.max_sensitivity_nodes, speed_trials=self.speed_trials,
                           threads=self.threads)


class Prepared:
    """The float graph prepared for quantization, once per graph kind (plain or fused)."""

    def __init__(self, src: Path, tmp: Path, sample: dict[str, np.ndarray]):
        self.src, self.tmp, self.sample = src, tmp, sample
        self._paths: dict[str, Path] = {}

    def path(self, graph: str) -> Path:
        if graph not in self._paths:
            self._paths[graph] = prepare(self.src, self.tmp / graph, graph == "fused", self.sample)
        return self._paths[graph]

    def ranges(self, c: Candidate) -> Path:
        """Where the candidate's calibrated tensor ranges are kept: they depend only on the graph, the
        calibration method and the op types whose tensors are observed, so candidates that differ in
        format, weight granularity, requantization or the nodes they quantize calibrate once (calibrating
        took half of a MiniLM search's time)."""
        ops = "all" if c.op_types is None else "+".join(c.op_types)
        path = self.tmp / "ranges" / f"{c.graph}-{c.calibration}-{ops}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def prepare(src: Path, tmp: Path, fuse: bool, sample: dict[str, np.ndarray] | None) -> Path:
    """Fuse (transformers, when asked) and shape-annotate the float graph for the quantizer."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    tmp.mkdir(parents=True, exist_ok=True)
    if fuse:
        from onnxruntime.transformers.optimizer import optimize_model

        fused = tmp / "fused.onnx"
        # num_heads/hidden_size 0: the optimizer reads them from the graph.
        optimize_model(str(src), model_type="bert", num_heads=0, hidden_size=0).save_model_to_file(str(fused))
        src = fused
    prepared = (tmp / "prepared.onnx").resolve()
    # Symbolic shape inference fails on fused transformer graphs (contrib ops); the element types
    # that ONNX shape inference cannot give past them are observed by running the graph instead.
    # Where it gives up on a graph, ONNX Runtime saves the partial model into the working folder: the
    # build's own folder, not the user's.
    src = Path(src).resolve()  # before the working folder changes
    with contextlib.chdir(tmp):
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=fuse)
    if fuse and sample is not None:
        _annotate_types(prepared, sample)
    return prepared


def _annotate_types(path: Path, sample: dict[str, np.ndarray]) -> None:
    """Give every untyped intermediate tensor the element type and rank it takes on a real sample."""
    import onnx

    from edgewise.onnxgraph import observe_tensors  # lazy: pulls onnx

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


def matmuls_of_activations(model) -> list[str]:
    """MatMul nodes whose B is not constant (attention's products): what a weights-only candidate leaves out."""
    from edgewise.onnxgraph import GraphIndex  # lazy: pulls onnx

    dynamic = GraphIndex.of(model).dynamic
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in dynamic]


@dataclass
class Chosen:
    """The int8 graph an operator ships, and what choosing it measured."""

    best: Outcome
    outcomes: list[Outcome]
    nodes: NodeRecord
    space: Space
    fp32_ms: float
    int8_ms: float
    calibration_size: int

    def meta(self, name: str, p: Int8Params, census: dict[str, Any]) -> dict[str, Any]:
        """The record both operators keep: nodes by kind, latency, candidates, choice, per-node decisions,
        warnings."""
        c = self.best.candidate
        meta = {**census, "op_types": list(c.op_types) if c.op_types else "all", "per_channel": c.per_channel,
                "format": c.format, "graph": c.graph,
                "latency": {"fp32_ms": self.fp32_ms, "int8_ms": self.int8_ms, "speedup": self.fp32_ms / self.int8_ms,
                            "runs": p.latency_runs, "threads": p.threads},
                "candidates": [o.record() for o in self.outcomes],
                "choice": {"reason": why_it_won(self.best, self.outcomes, p.max_accuracy_drop), "label": c.label(),
                           "params": c.as_dict(), "calibration_drop_points": self.best.drop_points,
                           "space": self.space.describe()},
                "nodes": self.nodes.to_dict(), "warnings": []}
        if not self.best.accepted:
            meta["warnings"].append(f"{name}: no int8 variant stays within {p.max_accuracy_drop:g} points on the "
                                    f"calibration split (best drop {self.best.drop_points:.2f} points)")
        if not census.get("quantized_nodes"):
            meta["warnings"].append(f"{name}: no node pays in int8 here; every quantizable node stayed in float")
        if self.fp32_ms <= self.int8_ms:
            meta["warnings"].append(f"{name}: int8 model is not faster than fp32 on {p.threads} thread(s) "
                                    f"({self.int8_ms:.2f} ms vs {self.fp32_ms:.2f} ms)")
        return meta


def choose_int8(name: str, src: Path, subject, p: Int8Params, space: Space,
                builder: Callable[[Prepared, Split, Candidate, Path], None], out: Path,
                log: Callable[[str], None]) -> Chosen:
    """Search the space for `src` (the float ONNX model), refine per node, write the winner to `out`.
    `builder(prepared, calibration, candidate, path)` quantizes one candidate."""
    from edgewise.tiers.sessions import make_session  # lazy: pulls onnxruntime

    calibration = subject.splits().calibration.take(p.calibration_size)
    feeds = [calibration.batch(slice(i, i + 1)) for i in range(min(len(calibration), 8))]
    metric = subject.metrics[0]

    def metric_of(session) -> float:
        names = [i.name for i in session.get_inputs()]
        logits = run_batched(lambda b: session.run(None, {n: b[n] for n in names})[0], calibration, 32,
                             fixed_batch(session))  # a graph may fix its batch (often at 1)
        return score(subject.metrics, logits, calibration.labels)[0][metric]

    fp32 = make_session(src, p.threads)
    names = [i.name for i in fp32.get_inputs()]
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        prepared = Prepared(src, Path(tmp), calibration.batch(slice(0, 1)))
        judge = Judge(build=partial(builder, prepared, calibration), session=partial(make_session, threads=p.threads),
                      score=metric_of, feeds=feeds, runs=p.search_runs, confirm_close_calls=p.confirm_close_calls,
                      reference_metric=metric_of(fp32),
                      max_drop_points=p.max_accuracy_drop, workdir=Path(tmp),
                      reference_outputs=[fp32.run(None, {n: f[n] for n in names})[0] for f in feeds])
        best, outcomes = search(space, judge, log)
        if best.error is not None:
            raise RuntimeError(f"{name}: no candidate could be quantized ({best.error})")
        best, nodes = refine(best, partial(_attempt, name, judge, outcomes, log), judge,
                             prepared.path(best.candidate.graph), p.node_control(), log)
        drop_sessions(outcomes, best)
        Path(best.path).replace(out)  # type: ignore[arg-type]
        fp32_s, int8_s = interleaved_latency([fp32, best.session], feeds, p.latency_runs)
        best.session = None
    return Chosen(best, outcomes, nodes, space, fp32_s * 1e3, int8_s * 1e3, len(calibration))


def _attempt(name: str, judge: Judge, outcomes: list[Outcome], log, candidate: Candidate,
             incumbent: Outcome) -> Outcome:
    """A node-level challenger, built, scored, timed against the incumbent and recorded like the search's."""
    outcome = judge.try_candidate(candidate, incumbent, len(outcomes))
    outcomes.append(outcome)
    won, why = better(outcome, incumbent)
    outcome.verdict = ("kept: " if won else "rejected: ") + why
    log(f"{name} candidate {candidate.label()}: {outcome.verdict}")
    return outcome
