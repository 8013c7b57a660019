"""Where an ONNX model's time goes: ONNX Runtime's own profiler, by operator type and by node.

The profile is taken in process, on the tier's thread count, model only (the feeds are the latency
inputs after preprocessing), so it states the host's figures; a tier's figure is the host's divided
by the tier's `speed` (`OperatorProfile.scaled`). Times are per run: each node's median over the
timed runs (a run the host preempted does not move it), and an op type's time is the sum of its
nodes'. The names are those of the graph ONNX Runtime ran, after its fusions (a QDQ Conv becomes a
QLinearConv named after the Conv).
"""

from __future__ import annotations

import json
import tempfile
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

KERNEL_SUFFIX = "_kernel_time"
RUNTIME = "onnxruntime"


@dataclass(frozen=True)
class NodeTime:
    """One node of the graph ONNX Runtime ran, and its mean time per run."""

    name: str
    op_type: str  # the kernel that ran it (QLinearConv, FusedConv, NhwcMaxPool, ...)
    ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "op_type": self.op_type, "ms": round(self.ms, 5)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NodeTime":
        return cls(str(d["name"]), str(d["op_type"]), float(d["ms"]))


@dataclass(frozen=True)
class PartProfile:
    """One ONNX part of an artifact (the model, or a partition's head or tail)."""

    threads: int
    run_ms: float  # median time of a whole run as the session saw it (kernels and what lies between them)
    by_type: dict[str, float]  # op type -> ms per run (the sum of its nodes' medians), costliest first
    nodes: tuple[NodeTime, ...]  # costliest first (all of them, or the first ones kept by `trimmed`)
    node_count: int  # nodes that ran, however many `nodes` keeps

    @property
    def kernel_ms(self) -> float:
        return float(sum(self.by_type.values()))

    def to_dict(self) -> dict[str, Any]:
        return {"threads": self.threads, "run_ms": round(self.run_ms, 5),
                "by_type": {k: round(v, 5) for k, v in self.by_type.items()},
                "nodes": [n.to_dict() for n in self.nodes], "node_count": self.node_count}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PartProfile":
        return cls(int(d["threads"]), float(d["run_ms"]), {str(k): float(v) for k, v in d["by_type"].items()},
                   tuple(NodeTime.from_dict(n) for n in d.get("nodes") or ()), int(d.get("node_count", 0)))


@dataclass(frozen=True)
class OperatorProfile:
    """An artifact's profile on the host: one PartProfile per ONNX part, in the order a request runs them."""

    parts: tuple[PartProfile, ...]
    runs: int
    runtime: str = RUNTIME
    notes: tuple[str, ...] = field(default=())

    def scaled(self, speeds: Sequence[float]) -> "OperatorProfile":
        """The figures on tiers of these speeds (one per part): the host's divided by the speed."""
        if len(speeds) != len(self.parts):
            raise ValueError(f"{len(self.parts)} part(s) but {len(speeds)} speed(s)")
        return replace(self, parts=tuple(_scale_part(p, s) for p, s in zip(self.parts, speeds)))

    def by_type(self) -> dict[str, float]:
        """ms per run by op type over every part, costliest first."""
        total: dict[str, float] = defaultdict(float)
        for part in self.parts:
            for op, ms in part.by_type.items():
                total[op] += ms
        return dict(sorted(total.items(), key=lambda kv: -kv[1]))

    def costliest_nodes(self, n: int) -> list[tuple[int, NodeTime]]:
        """The n costliest nodes of all parts, with the index of the part each belongs to."""
        nodes = [(i, node) for i, part in enumerate(self.parts) for node in part.nodes]
        return sorted(nodes, key=lambda pn: -pn[1].ms)[:n]

    @property
    def run_ms(self) -> float:
        return float(sum(p.run_ms for p in self.parts))

    def trimmed(self, nodes: int) -> "OperatorProfile":
        """The same profile keeping only each part's `nodes` costliest nodes (what a study stores)."""
        return replace(self, parts=tuple(replace(p, nodes=p.nodes[:nodes]) for p in self.parts))

    def to_dict(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "runs": self.runs, "parts": [p.to_dict() for p in self.parts],
                "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "OperatorProfile":
        return cls(tuple(PartProfile.from_dict(p) for p in d["parts"]), int(d["runs"]), str(d.get("runtime", RUNTIME)),
                   tuple(d.get("notes") or ()))


def _scale_part(part: PartProfile, speed: float) -> PartProfile:
    if speed <= 0:
        raise ValueError(f"a tier's speed must be positive, not {speed}")
    return replace(part, run_ms=part.run_ms / speed, by_type={k: v / speed for k, v in part.by_type.items()},
                   nodes=tuple(replace(n, ms=n.ms / speed) for n in part.nodes))


def profile_onnx(parts: Sequence[str | Path], feeds: Sequence[dict[str, np.ndarray]], threads: int | Sequence[int] = 1,
                 runs: int = 10, warmup: int = 2) -> OperatorProfile:
    """Profile an artifact's ONNX part(s) in ONNX Runtime: `runs` timed runs after `warmup` untimed ones,
    cycling through `feeds` (each a request's model inputs, after preprocessing). A partition's parts run
    in order, each part's outputs feeding the next by name, as the tiers run them; `threads` is one
    intra-op thread count for all parts or one per part."""
    from edgewise.tiers.sessions import make_session  # lazy: pulls onnxruntime

    if not parts or not feeds:
        raise ValueError("profile_onnx needs at least one part and one feed")
    per_part = [int(threads)] * len(parts) if isinstance(threads, int) else [int(t) for t in threads]
    if len(per_part) != len(parts):
        raise ValueError(f"{len(parts)} part(s) but {len(per_part)} thread count(s)")
    with tempfile.TemporaryDirectory(prefix="edgewise-profile-") as tmp:
        sessions = [make_session(p, t, profile_prefix=Path(tmp) / f"part{i}")
                    for i, (p, t) in enumerate(zip(parts, per_part))]
        for i in range(warmup + runs):
            _run_in_order(sessions, feeds[i % len(feeds)])
        traces = [json.loads(Path(s.end_profiling()).read_text()) for s in sessions]
    return OperatorProfile(tuple(_part_profile(trace, t, warmup, runs) for trace, t in zip(traces, per_part)), runs)


def _run_in_order(sessions: list, feeds: dict[str, np.ndarray]) -> None:
    values = dict(feeds)
    for session in sessions:
        names = [i.name for i in session.get_inputs()]
        outs = session.run(None, {n: values[n] for n in names})
        values.update({o.name: v for o, v in zip(session.get_outputs(), outs)})


def _part_profile(trace: list[dict[str, Any]], threads: int, warmup: int, runs: int) -> PartProfile:
    """Kernel times of the timed runs from a Chrome-format trace: each node's median over the runs (a run
    the host preempted does not move it), and a run's median."""
    model_runs = sorted((e for e in trace if e.get("name") == "model_run"), key=lambda e: e["ts"])
    if len(model_runs) < warmup + runs:
        raise RuntimeError(f"ONNX Runtime's profile holds {len(model_runs)} runs, {warmup + runs} were made")
    timed = model_runs[warmup:]
    starts = [e["ts"] for e in timed]
    per_run: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(timed))
    op_of: dict[str, str] = {}
    for event in trace:
        name = event.get("name", "")
        if event.get("cat") != "Node" or not name.endswith(KERNEL_SUFFIX) or event["ts"] < starts[0]:
            continue
        node = name[: -len(KERNEL_SUFFIX)]
        per_run[node][bisect_right(starts, event["ts"]) - 1] += event["dur"] / 1e3  # microseconds -> ms
        op_of[node] = (event.get("args") or {}).get("op_name", "?")
    nodes = sorted((NodeTime(n, op_of[n], float(np.median(t))) for n, t in per_run.items()), key=lambda n: -n.ms)
    by_type: dict[str, float] = defaultdict(float)
    for n in nodes:
        by_type[n.op_type] += n.ms
    run_ms = float(np.median([e["dur"] for e in timed])) / 1e3
    return PartProfile(threads, run_ms, dict(sorted(by_type.items(), key=lambda kv: -kv[1])), tuple(nodes), len(nodes))
