"""Partition: split a model into a head that runs on one tier and a tail that runs on the next.

With `cut: auto` the cut is chosen for the placement it will run on: every valid cut of a few
tensors is enumerated, a spread of them is timed (head and tail, 1 thread, scaled to each tier's
CPU share) and the transfer of the cut tensors over the links between the two tiers is added;
the smallest total wins. Only tensors computed from the inputs cross the link: each part carries
the weights it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edgewise.building.artifacts import Artifact
from edgewise.errors import ArtifactError, PlanError
from edgewise.onnxgraph import (
    Cut,
    GraphIndex,
    cut_after_prefix,
    enumerate_cuts,
    make_session,
    median_latency,
    observe_tensors,
    split_model,
    validate_cut,
    with_int8_wire,
)
from edgewise.onnxgraph.graph import name_nodes
from edgewise.onnxgraph.tensors import tensor_infos
from edgewise.operators.base import BuildContext, Operator
from edgewise.tiers.spec import TierSpec, direct_links, route_for
from edgewise.vocabulary import FLOAT, ONNX, SPLIT

FLOAT_TOLERANCE = 1e-5  # max abs difference between split and unsplit fp32 outputs (scaled by the output's range)


class PartitionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cut: str | list[str] = Field(default="auto", description="auto, a list of tensor names, or a node name prefix to cut after")
    compress: Literal["none", "int8"] = Field(default="none", description="int8: float cut tensors travel as int8")
    max_cut_tensors: int = Field(default=3, ge=1, description="auto: largest number of tensors a cut may carry")
    max_candidates: int = Field(default=8, ge=1, description="auto: cuts timed to choose among")
    profile_runs: int = Field(default=5, ge=1, description="timed runs per head and tail")
    verify_samples: int = Field(default=4, ge=1, description="calibration samples checked head-then-tail against the whole")


@dataclass(frozen=True)
class Estimate:
    cut: Cut
    cut_bytes: int
    head_s: float
    transfer_s: float
    tail_s: float

    @property
    def total_s(self) -> float:
        return self.head_s + self.transfer_s + self.tail_s

    def as_dict(self) -> dict:
        return {"cut": list(self.cut.tensors), "cut_bytes": self.cut_bytes, "head_s": self.head_s,
                "transfer_s": self.transfer_s, "tail_s": self.tail_s, "total_s": self.total_s}


class Partition(Operator):
    name = "partition"
    kind = "black"
    display_order = 80
    requires = frozenset({ONNX})
    produces = frozenset({SPLIT})
    keeps = frozenset({FLOAT})
    placement_dependent = True
    tolerance = 0.0
    description = "split into a head and a tail on two tiers, at a cut chosen for the placement"
    meta_keys = frozenset({"cut", "cut_bytes", "estimate", "candidates", "verification"})
    Params = PartitionParams

    def apply(self, artifact: Artifact, ctx: BuildContext) -> Artifact:
        import onnx

        p: PartitionParams = self.params
        head_tier, tail_tier = _tiers(ctx)
        model = onnx.load(str(artifact.onnx))
        name_nodes(model)
        index = GraphIndex.of(model)
        calibration = ctx.subject.splits().calibration
        feeds = [calibration.batch(slice(i, i + 1)) for i in range(min(p.verify_samples, len(calibration)))]
        candidates = _candidates(index, p)
        values = observe_tensors(model, feeds, sorted({t for c in candidates for t in c.tensors}))
        infos = tensor_infos(values)
        links = _route_links(ctx)
        if len(candidates) == 1:
            ranked = [_estimate(model, candidates[0], infos, feeds, p, head_tier, tail_tier, links, ctx)]
        else:
            shortlist = _shortlist(candidates, infos, p.max_candidates)
            ranked = sorted((_estimate(model, c, infos, feeds, p, head_tier, tail_tier, links, ctx) for c in shortlist),
                            key=lambda e: e.total_s)
        best = ranked[0]
        head, tail = split_model(model, best.cut.tensors, infos)
        wire = {"compress": p.compress, "float_bytes": best.cut_bytes}
        if p.compress == "int8":
            head, tail, wire = _compress(head, tail, best.cut, infos, values)
        exact = FLOAT in artifact.capabilities and p.compress == "none"
        verification = _verify(model, head, tail, feeds, exact)
        head_path, tail_path = ctx.workdir / "head.onnx", ctx.workdir / "tail.onnx"
        onnx.save(head, str(head_path))
        onnx.save(tail, str(tail_path))
        ctx.log(f"partition: cut {list(best.cut.tensors)} ({wire.get('wire_bytes', best.cut_bytes)} B/sample), "
                f"estimated {best.total_s * 1e3:.2f} ms on {head_tier.name}-{tail_tier.name}")
        meta = {"cut": list(best.cut.tensors), "cut_bytes": wire.get("wire_bytes", best.cut_bytes),
                "estimate": {k: v for k, v in best.as_dict().items() if k.endswith("_s")},
                "candidates": [e.as_dict() for e in ranked[:5]], "candidates_enumerated": len(candidates),
                "candidates_timed": len(ranked), "wire": wire, "verification": verification,
                "placement": ctx.placement.name, "links": [f"{a}->{b}" for a, b in links]}
        if p.compress == "none" and verification["max_rel_diff"] <= FLOAT_TOLERANCE and artifact.key:
            meta["reproduces"] = artifact.key  # same function: the study takes its source's accuracy
        return Artifact(artifact.subject, artifact.chain, (head_path, tail_path), None, frozenset(), meta)


def _tiers(ctx: BuildContext) -> tuple[TierSpec, TierSpec]:
    if ctx.placement is None or not ctx.placement.is_split:
        raise PlanError(f"partition needs a two-tier placement, got {ctx.placement}", "use mobile-edge, edge-cloud or mobile-cloud")
    missing = [t for t in ctx.placement.tiers if t not in ctx.tiers]
    if missing:
        raise PlanError(f"partition: no tier spec for {missing}", "declare the tiers in the testbed section")
    return ctx.tiers[ctx.placement.tiers[0]], ctx.tiers[ctx.placement.tiers[1]]


def _route_links(ctx: BuildContext) -> list[tuple[str, str]]:
    """The (src, dst) hops the cut tensors travel, from the head tier to the tail tier."""
    direct = direct_links(link.name for link in ctx.links)
    route = route_for(ctx.placement, direct)
    head, tail = ctx.placement.tiers
    srcs = [src for src, _ in route.links]
    hops = list(route.links[srcs.index(head):])
    if not hops or hops[-1][1] != tail:
        raise PlanError(f"partition: no route from {head} to {tail}", "declare the links between the tiers")
    return hops


def _candidates(index, p: PartitionParams) -> list[Cut]:
    if isinstance(p.cut, list):
        return [validate_cut(index, p.cut)]
    if p.cut != "auto":
        return [cut_after_prefix(index, p.cut)]
    cuts = enumerate_cuts(index, p.max_cut_tensors)
    if not cuts:
        raise ArtifactError(f"partition: the model has no cut of at most {p.max_cut_tensors} tensors",
                            "raise max_cut_tensors or give the cut as a list of tensor names")
    return cuts


def _shortlist(cuts: list[Cut], infos, limit: int) -> list[Cut]:
    """Cuts worth timing: the cheapest to send, plus a spread along the graph (first and last included)."""
    if len(cuts) <= limit:
        return cuts
    by_bytes = sorted(cuts, key=lambda c: (sum(infos[t].nbytes for t in c.tensors), c.position))
    spread = [cuts[round(i * (len(cuts) - 1) / max(1, limit // 2 - 1))] for i in range(max(2, limit // 2))]
    chosen: dict[tuple[str, ...], Cut] = {c.tensors: c for c in spread}
    for c in by_bytes:
        if len(chosen) >= limit:
            break
        chosen.setdefault(c.tensors, c)
    return sorted(chosen.values(), key=lambda c: c.position)


def _tier_seconds(measured_s: float, tier: TierSpec) -> float:
    # Measured on one thread of this machine; a tier runs each request at its speed, on min(cpus, threads) threads.
    return measured_s / (tier.speed * min(tier.cpus, tier.intra_op_threads))


def _transfer_seconds(nbytes: int, links: list[tuple[str, str]], ctx: BuildContext) -> float:
    total = 0.0
    for src, dst in links:
        link = ctx.link_between(src, dst)
        if link is None:
            raise PlanError(f"partition: no link between {src} and {dst}", "declare it in the testbed section")
        total += nbytes * 8 / (link.rate_mbit(src) * 1e6) + link.delay(src) / 1e3
    return total


def _estimate(model, cut: Cut, infos, feeds, p: PartitionParams, head_tier: TierSpec, tail_tier: TierSpec,
              links, ctx: BuildContext) -> Estimate:
    head, tail = split_model(model, cut.tensors, infos)
    head_session = make_session(head.SerializeToString())
    tail_session = make_session(tail.SerializeToString())
    head_feeds = [_run(head_session, f) for f in feeds]
    nbytes = sum(infos[t].nbytes for t in cut.tensors)
    return Estimate(cut, nbytes,
                    _tier_seconds(median_latency(head_session, feeds, p.profile_runs, warmup=1), head_tier),
                    _transfer_seconds(nbytes, links, ctx),
                    _tier_seconds(median_latency(tail_session, head_feeds, p.profile_runs, warmup=1), tail_tier))


def _compress(head, tail, cut: Cut, infos, values):
    """int8 on the wire for float cut tensors with finite values (attention masks may hold -inf: they stay float)."""
    scales = {}
    for t in cut.tensors:
        if infos[t].dtype != "float32":
            continue
        peak = max(float(np.abs(v).max()) for v in values[t])
        if np.isfinite(peak):
            scales[t] = peak / 127 if peak > 0 else 1.0
    head, tail = with_int8_wire(head, tail, scales)
    wire_bytes = sum(infos[t].nbytes // 4 if t in scales else infos[t].nbytes for t in cut.tensors)
    float_bytes = sum(infos[t].nbytes for t in cut.tensors)
    return head, tail, {"compress": "int8", "float_bytes": float_bytes, "wire_bytes": wire_bytes,
                        "int8_tensors": sorted(scales), "scales": scales}


def _run(session, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    outs = session.run(None, {i.name: values[i.name] for i in session.get_inputs()})
    return {o.name: v for o, v in zip(session.get_outputs(), outs)}


def _verify(model, head, tail, feeds, exact: bool) -> dict:
    """Head then tail must reproduce the whole model: to 1e-5 in float, the same top-1 otherwise."""
    whole = make_session(model.SerializeToString())
    head_session, tail_session = make_session(head.SerializeToString()), make_session(tail.SerializeToString())
    worst, agree = 0.0, 0
    for feed in feeds:
        expected = next(iter(_run(whole, feed).values()))
        got = next(iter(_run(tail_session, {**feed, **_run(head_session, feed)}).values()))
        worst = max(worst, float(np.abs(got - expected).max()) / max(1.0, float(np.abs(expected).max())))
        agree += int(np.array_equal(got.argmax(axis=-1), expected.argmax(axis=-1)))
    if (exact and worst > FLOAT_TOLERANCE) or agree < len(feeds):
        raise ArtifactError(f"partition: head then tail does not reproduce the model (relative max diff {worst:.2e}, "
                            f"top-1 agrees on {agree}/{len(feeds)} samples)",
                            "try another cut or compress: none")
    return {"samples": len(feeds), "max_rel_diff": worst, "top1_agreement": agree / len(feeds)}
