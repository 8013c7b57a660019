"""Tier servers in-process on loopback, fed with the tiny subjects' real ONNX artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgewise.tiers.server import ServerConfig, TierServer
from edgewise.tiers.spec import TIER_ORDER


@pytest.fixture(scope="session")
def cnn_artifact(tiny_cnn, cache_dir):
    from edgewise.building.artifacts import ArtifactCache
    from edgewise.operators.chain import root_artifact

    return root_artifact(tiny_cnn, ArtifactCache(cache_dir / "artifacts"), log=lambda m: None)


@pytest.fixture(scope="session")
def cnn_split(cnn_artifact, cache_dir) -> tuple[Path, Path, str]:
    """Head and tail of tiny-cnn cut after the max-pool, and the cut tensor's name."""
    import onnx
    from onnx.utils import extract_model

    model = onnx.load(str(cnn_artifact.onnx))
    cut = next(n.output[0] for n in model.graph.node if n.op_type == "MaxPool")
    head, tail = cache_dir / "head.onnx", cache_dir / "tail.onnx"
    extract_model(str(cnn_artifact.onnx), str(head), ["pixel_values"], [cut])
    extract_model(str(cnn_artifact.onnx), str(tail), [cut], ["logits"])
    return head, tail, cut


@pytest.fixture
def servers():
    """mobile, edge and cloud servers on loopback that know each other."""
    started = {t: TierServer(ServerConfig(tier=t, read_timeout_s=1.0)).start() for t in TIER_ORDER}
    for s in started.values():
        s.config.peers.update({t: other.address for t, other in started.items()})
    yield started
    for s in started.values():
        s.stop()
