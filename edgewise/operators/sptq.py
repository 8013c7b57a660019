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

import tempfile
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edgewise.artifacts import Artifact
from edgewise.data.batching import fixed_batch, run_batched
from edgewise.data.split import Split
from edgewise.operators.base import BuildContext, Operator
from edgewise.operators.int8_nodes import NodeControl, drop_sessions, refine
from edgewise.operators.sptq_candidates import Candidate, Judge, candidate_space, search, why_it_won
from edgewise.session_latency import interleaved_latency
from edgewise.subjects import score
from edgewise.vocabulary import CNN, FLOAT, ONNX, TRANSFORMER

class SptqParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calibration: Literal["minmax", "entropy", "percentile"] | None = Field(
        default=None, description="calibration method; default: minmax, others tried when it loses too much accuracy")
    calibration_size: int = Field(default=100, ge=1, description="calibration samples")
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
    search: bool = Field(default=True, description="try the candidates; false: build the first one only")
    max_accuracy_drop: float = Field(default=1.0, ge=0, description="points of the metric on the calibration split "
                                     "a candidate may lose against fp32")
    threads: int = Field(default=1, ge=1, description="intra-op threads candidates are timed on (the target tier's)")
    search_runs: int = Field(default=10, ge=1, description="timed runs per candidate against the incumbent")
    latency_runs: int = Field(default=30, ge=1, description="runs of the final fp32 vs int8 comparison")
    accuracy_control: bool = Field(default=True, description="when the chosen variant drops too much, leave its most "
                                   "sensitive nodes in float until the drop is within max_accuracy_drop")
    speed_control: bool = Field(default=True, description="leave node groups in float whose int8 kernels make the "
                                "graph slower (tried costliest first, kept when the graph gets faster)")
    max_sensitivity_nodes: int = Field(default=64, ge=1, description="nodes probed one by one by accuracy control")
    speed_trials: int = Field(default=3, ge=0, description="node groups speed control tries in float")
    exclude_nodes: list[str] = Field(default_factory=list, description="nodes to leave in float, by name")


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
    requires = frozenset({ONNX, FLOAT})
    produces = frozenset({ONNX})
    tolerance = 0.03
    description = "static post-training int8 quantization (ONNX Runtime), the fastest accurate variant measured"
    meta_keys = frozenset({"quantized_nodes", "float_nodes", "conversion_nodes", "calibration", "latency", "warnings",
                           "candidates", "choice", "nodes"})
    Params = SptqParams

    def apply(self, artifact: Artifact, ctx: BuildContext) -> Artifact:
        from edgewise.onnxgraph import make_session  # lazy: pulls onnx
        from edgewise.onnxgraph.quantized import census

        p: SptqParams = self.params
        subject = ctx.subject
        calibration = subject.splits().calibration.take(p.calibration_size)
        is_transformer = getattr(subject, "family", CNN) == TRANSFORMER
        space = candidate_space(is_transformer, calibration=p.calibration, per_channel=p.per_channel,
                                op_types=p.op_types, requantize=p.requantize_outputs, quant_format=p.quant_format,
                                fuse=p.fuse, search=p.search, exclude=p.exclude_nodes)
        feeds = [calibration.batch(slice(i, i + 1)) for i in range(min(len(calibration), 8))]
        metric = subject.metrics[0]

        def metric_of(session) -> float:
            names = [i.name for i in session.get_inputs()]
            logits = run_batched(lambda b: session.run(None, {n: b[n] for n in names})[0], calibration, 32,
                                 fixed_batch(session))  # a graph may fix its batch (often at 1)
            return score(subject.metrics, logits, calibration.labels)[0][metric]

        fp32 = make_session(artifact.onnx, p.threads)
        out = ctx.workdir / "model.onnx"
        with tempfile.TemporaryDirectory(dir=ctx.workdir) as tmp:
            prepared = _Prepared(artifact.onnx, Path(tmp), calibration.batch(slice(0, 1)))
            judge = Judge(build=partial(_build_candidate, prepared, calibration, p.activation_type),
                          session=partial(make_session, threads=p.threads), score=metric_of, feeds=feeds,
                          runs=p.search_runs, reference_metric=metric_of(fp32), max_drop_points=p.max_accuracy_drop,
                          workdir=Path(tmp), reference_outputs=[fp32.run(None, f)[0] for f in _named(fp32, feeds)])
            best, outcomes = search(space, judge, ctx.log)
            if best.error is not None:
                raise RuntimeError(f"sptq: no candidate could be quantized ({best.error})")
            best, nodes = refine(best, partial(_attempt, judge, outcomes, ctx.log), judge,
                                 prepared.path(best.candidate.graph), _control(p), ctx.log)
            drop_sessions(outcomes, best)
            Path(best.path).replace(out)  # type: ignore[arg-type]
            fp32_s, int8_s = interleaved_latency([fp32, best.session], feeds, p.latency_runs)
            best.session = None
        c = best.candidate
        meta = {**census(out), "calibration": {"method": c.calibration, "size": len(calibration)},
                "per_channel": c.per_channel, "activation_type": p.activation_type, "weight_type": "int8",
                "op_types": list(c.op_types) if c.op_types else "all", "requantized_outputs": c.requantize,
                "format": c.format, "graph": c.graph,
                "latency": {"fp32_ms": fp32_s * 1e3, "int8_ms": int8_s * 1e3, "speedup": fp32_s / int8_s,
                            "runs": p.latency_runs, "threads": p.threads},
                "candidates": [o.record() for o in outcomes],
                "choice": {"reason": why_it_won(best, outcomes, p.max_accuracy_drop), "label": c.label(), "params": c.as_dict(),
                           "calibration_drop_points": best.drop_points, "space": space.describe()},
                "nodes": nodes.to_dict(), "warnings": []}
        if not best.accepted:
            meta["warnings"].append(f"sptq: no int8 variant stays within {p.max_accuracy_drop:g} points on the "
                                    f"calibration split (best drop {best.drop_points:.2f} points)")
        if not meta["quantized_nodes"]:
            meta["warnings"].append("sptq: no node pays in int8 here; every quantizable node stayed in float")
        if meta["latency"]["speedup"] <= 1.0:
            meta["warnings"].append(f"sptq: int8 model is not faster than fp32 on {p.threads} thread(s) "
                                    f"({int8_s * 1e3:.2f} ms vs {fp32_s * 1e3:.2f} ms)")
        for warning in meta["warnings"]:
            ctx.log(warning)
        return Artifact(artifact.subject, artifact.chain, (out,), None, frozenset(), meta)


def _named(session, feeds: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    names = [i.name for i in session.get_inputs()]
    return [{n: f[n] for n in names} for f in feeds]


def _control(p: SptqParams) -> NodeControl:
    return NodeControl(accuracy=p.accuracy_control and p.search, speed=p.speed_control and p.search,
                       max_sensitivity_nodes=p.max_sensitivity_nodes, speed_trials=p.speed_trials, threads=p.threads)


def _attempt(judge: Judge, outcomes: list, log, candidate: Candidate, incumbent):
    """A node-level challenger, built, scored, timed against the incumbent and recorded like the search's."""
    from edgewise.operators.sptq_candidates import better

    outcome = judge.try_candidate(candidate, incumbent, len(outcomes))
    outcomes.append(outcome)
    won, why = better(outcome, incumbent)
    outcome.verdict = ("kept: " if won else "rejected: ") + why
    log(f"sptq candidate {candidate.label()}: {outcome.verdict}")
    return outcome


class _Prepared:
    """The float graph prepared for quantization, once per graph kind (plain or fused)."""

    def __init__(self, src: Path, tmp: Path, sample: dict[str, np.ndarray]):
        self.src, self.tmp, self.sample = src, tmp, sample
        self._paths: dict[str, Path] = {}

    def path(self, graph: str) -> Path:
        if graph not in self._paths:
            self._paths[graph] = _prepare(self.src, self.tmp / graph, graph == "fused", self.sample)
        return self._paths[graph]

    def ranges(self, c: Candidate) -> Path:
        """Where the candidate's calibrated tensor ranges are kept: they depend only on the graph, the
        calibration method and the op types whose tensors are observed, so candidates that differ in
        format, weight granularity or requantization calibrate once (calibrating took half of a MiniLM
        search's time)."""
        ops = "all" if c.op_types is None else "+".join(c.op_types)
        path = self.tmp / "ranges" / f"{c.graph}-{c.calibration}-{ops}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def _build_candidate(prepared: _Prepared, calibration: Split, activation_type: str, candidate: Candidate, out: Path) -> None:
    _quantize(prepared.path(candidate.graph), out, calibration, candidate, activation_type, prepared.ranges(candidate))


def _prepare(src: Path, tmp: Path, fuse: bool, sample: dict[str, np.ndarray] | None) -> Path:
    """Fuse (transformers, when asked) and shape-annotate the float graph for the quantizer."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    tmp.mkdir(parents=True, exist_ok=True)
    if fuse:
        from onnxruntime.transformers.optimizer import optimize_model

        fused = tmp / "fused.onnx"
        # num_heads/hidden_size 0: the optimizer reads them from the graph.
        optimize_model(str(src), model_type="bert", num_heads=0, hidden_size=0).save_model_to_file(str(fused))
        src = fused
    prepared = tmp / "prepared.onnx"
    # Symbolic shape inference fails on fused transformer graphs (contrib ops); the element types
    # that ONNX shape inference cannot give past them are observed by running the graph instead.
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
    quantize_static(str(src), str(out), CalibrationReader(calibration, inputs),
                    quant_format=QuantFormat.QDQ if c.format == "qdq" else QuantFormat.QOperator,
                    op_types_to_quantize=list(c.op_types) if c.op_types else None, per_channel=c.per_channel,
                    activation_type=QuantType.QUInt8 if activation_type == "uint8" else QuantType.QInt8,
                    weight_type=QuantType.QInt8, calibrate_method=methods[c.calibration], extra_options=extra,
                    nodes_to_quantize=list(c.only) or None, nodes_to_exclude=node_exclusions(model, c),
                    **_ranges_cache(quantize_static, ranges))


def _ranges_cache(quantize_static, ranges: Path) -> dict:
    """onnxruntime >= 1.32 reads calibrated ranges from this file when it exists and writes them when
    it does not; older versions calibrate every time."""
    import inspect

    known = inspect.signature(quantize_static).parameters
    return {"calibration_cache_path": ranges} if "calibration_cache_path" in known else {}


def node_exclusions(model, c: Candidate) -> list[str]:
    """The nodes the quantizer must leave in float: the candidate's, and for a weights-only candidate the
    MatMuls whose B is not constant (ONNX Runtime's QDQ quantizer ignores MatMulConstBOnly)."""
    excluded = list(c.exclude)
    if c.weights_only_matmul:
        from edgewise.onnxgraph import GraphIndex  # lazy: pulls onnx

        dynamic = GraphIndex.of(model).dynamic
        excluded += [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in dynamic]
    return excluded
