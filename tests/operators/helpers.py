"""Shared pieces of the operator tests: build contexts for a placement, and running artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgewise.config import TestbedConfig
from edgewise.operators import BuildContext
from edgewise.tiers.spec import Placement


def make_ctx_factory(subject, placement: str | None = "mobile-edge", preset: str = "paper-scaled"):
    """The ctx_for callable build_step expects, on the given preset's tiers and links."""
    testbed = TestbedConfig(preset=preset)

    def make(workdir: Path | None) -> BuildContext:
        return BuildContext(subject=subject, workdir=workdir or Path("."), seed=0, profile="quick",
                            placement=Placement.parse(placement) if placement else None,
                            tiers=testbed.tier_specs(), links=testbed.link_specs(), log=lambda m: None)

    return make


def run_parts(parts, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """Run an artifact's parts in order (head then tail), passing every output on by name."""
    from edgewise.onnxgraph import make_session

    values = dict(feeds)
    out = None
    for part in parts:
        session = make_session(part)
        outs = session.run(None, {i.name: values[i.name] for i in session.get_inputs()})
        values.update({o.name: v for o, v in zip(session.get_outputs(), outs)})
        out = outs[0]
    return out


def evaluate(parts, subject, limit: int = 300) -> dict[str, float]:
    from edgewise.subjects import score

    split = subject.splits().evaluation.take(limit)
    logits = np.concatenate([run_parts(parts, batch) for batch, _ in split.batches(100)])
    return score(subject.metrics, logits, split.labels)[0]
