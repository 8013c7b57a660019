"""Conformance of an Operator: on a subject, its artifact is valid ONNX that ONNX Runtime runs, its metadata
is complete, its accuracy is within the operator's declared `tolerance` of the unmodified model, and a second
build of the same step comes from the content-hash cache.

`check_operator(name, subject, cache_dir)` runs all of them; the single checks take an `OperatorBuild` (from
`build_operator`) so a suite can build once and report each property separately, as edgewise's own does.
Use a subject whose teacher trains in seconds (tiny-cnn, tiny-bert) or an ONNX-only one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx

from edgewise.building.artifacts import Artifact, ArtifactCache
from edgewise.config import TestbedConfig
from edgewise.onnxgraph import make_session
from edgewise.operators.base import OPERATORS, BuildContext, Operator, load_builtin_operators
from edgewise.operators.chain import build_step, root_artifact
from edgewise.subjects import score
from edgewise.tiers.spec import Placement
from edgewise.vocabulary import QUICK, SPLIT


def operator_names() -> list[str]:
    """Every registered operator (built-in and plug-ins), sorted: what a suite parametrises over."""
    load_builtin_operators()
    return sorted(OPERATORS)


def make_ctx_factory(subject, placement: str | None = "mobile-edge", preset: str = "paper-scaled"):
    """The ctx_for callable build_step expects, on the given preset's tiers and links."""
    testbed = TestbedConfig(preset=preset)

    def make(workdir: Path | None) -> BuildContext:
        return BuildContext(subject=subject, workdir=workdir or Path("."), seed=0, profile=QUICK,
                            placement=Placement.parse(placement) if placement else None,
                            tiers=testbed.tier_specs(), links=testbed.link_specs(), log=lambda m: None)

    return make


def run_parts(parts, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """Run an artifact's parts in order (head then tail), passing every output on by name."""
    values = dict(feeds)
    out = None
    for part in parts:
        session = make_session(part)
        outs = session.run(None, {i.name: values[i.name] for i in session.get_inputs()})
        values.update({o.name: v for o, v in zip(session.get_outputs(), outs)})
        out = outs[0]
    return out


def evaluate(parts, subject, limit: int = 300) -> dict[str, float]:
    """The subject's metrics of an artifact's parts on (the first `limit` rows of) its evaluation split."""
    split = subject.splits().evaluation.take(limit)
    logits = np.concatenate([run_parts(parts, batch) for batch, _ in split.batches(100)])
    return score(subject.metrics, logits, split.labels)[0]


@dataclass
class OperatorBuild:
    """One operator applied to a subject's unmodified model, and how many times `apply` ran for it."""

    operator: Operator
    subject: Any
    root: Artifact
    artifact: Artifact
    cache: ArtifactCache
    ctx_for: Callable[..., BuildContext]
    applies: int


def count_applies(op: Operator) -> list[int]:
    """Wrap the instance's apply so a check sees whether the cache answered instead."""
    calls = [0]
    real = op.apply

    def counted(artifact, ctx):
        calls[0] += 1
        return real(artifact, ctx)

    op.apply = counted  # type: ignore[method-assign]
    return calls


def build_operator(name: str, subject, cache: ArtifactCache, ctx_for: Callable[..., BuildContext] | None = None,
                   params: dict[str, Any] | None = None) -> OperatorBuild:
    load_builtin_operators()
    ctx_for = ctx_for or make_ctx_factory(subject)
    root = root_artifact(subject, cache, log=lambda m: None)
    op = OPERATORS[name](**(params or {}))
    calls = count_applies(op)
    art = build_step(op, root, cache, ctx_for)
    return OperatorBuild(op, subject, root, art, cache, ctx_for, calls[0])


def check_parts_are_valid_onnx(build: OperatorBuild) -> None:
    art = build.artifact
    assert art.parts and all(p.is_file() for p in art.parts), f"{build.operator.name}: missing parts {art.parts}"
    for part in art.parts:
        onnx.checker.check_model(str(part))
    feeds = build.subject.splits().evaluation.batch(slice(0, 1))
    out = run_parts(art.parts, feeds)
    assert out is not None and np.isfinite(out).all(), f"{build.operator.name}: ONNX Runtime gives no finite output"


def check_metadata_is_complete(build: OperatorBuild) -> None:
    op, root, art = build.operator, build.root, build.artifact
    expected_chain = root.chain if op.name == "identity" else (*root.chain, op.name)
    assert art.chain == expected_chain, f"chain {art.chain} != {expected_chain}"
    assert art.capabilities == op.output_capabilities(root.capabilities), "capabilities differ from the declared"
    assert art.is_split == (SPLIT in art.capabilities), "two parts if and only if the artifact declares 'split'"
    assert op.meta_keys <= set(art.meta), f"missing meta keys {sorted(op.meta_keys - set(art.meta))}"
    assert op.kind in ("white", "black"), f"kind {op.kind!r} is neither white nor black"
    assert isinstance(op.display_order, int), "display_order orders the report's chains: an int"


def check_accuracy_within_tolerance(build: OperatorBuild) -> None:
    subject, op = build.subject, build.operator
    metric = subject.metrics[0]
    before = evaluate(build.root.parts, subject)[metric]
    after = evaluate(build.artifact.parts, subject)[metric]
    assert after >= before - op.tolerance - 1e-9, f"{op.name} on {subject.name}: {metric} {before:.3f} -> {after:.3f}"


def check_second_build_comes_from_the_cache(build: OperatorBuild) -> None:
    op = build.operator
    again = type(op)(**op.params.model_dump())
    second = count_applies(again)
    art2 = build_step(again, build.root, build.cache, build.ctx_for)
    assert art2.key == build.artifact.key, "the same step gave another content key"
    assert second[0] == 0, "the second build ran apply instead of answering from the cache"
    assert build.applies == (0 if op.name == "identity" else 1)


CHECKS = (check_parts_are_valid_onnx, check_metadata_is_complete, check_accuracy_within_tolerance,
          check_second_build_comes_from_the_cache)


def check_operator(name: str, subject, cache_dir: str | Path, params: dict[str, Any] | None = None) -> None:
    """Every operator check, on one subject, with an artifact cache in `cache_dir`."""
    build = build_operator(name, subject, ArtifactCache(cache_dir), params=params)
    for check in CHECKS:
        check(build)
