"""A Deployment against real tier servers: load once, get the parts back after a tier restarts, unload.

Local testbed (server processes on loopback) for the emulated case; `edgewise serve` processes behind
a remote testbed for a real host that goes down and comes back."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from edgewise.config import TestbedConfig
from edgewise.deploying.deploy import Deployment, Part
from edgewise.testbeds import make_testbed
from edgewise.tiers.client import TierDown, TierLost
from edgewise.tiers.spec import LinkSpec, Placement, route_for
from tests.testbeds.test_conformance import TIERS, ServeProcesses

LINKS = [LinkSpec("client", "mobile", 100.0), LinkSpec("mobile", "edge", 100.0)]
ON_EDGE, SPLIT = route_for(Placement.parse("edge")), route_for(Placement.parse("mobile-edge"))


def _count_loads(client) -> list[tuple[str, str, str]]:
    """The LOAD requests the real client sends: (tier, artifact id, role)."""
    sent, load = [], client.load

    def counted(tier, artifact_id, path, role, *args, **kwargs):
        sent.append((tier, artifact_id, role))
        return load(tier, artifact_id, path, role, *args, **kwargs)

    client.load = counted
    return sent


def _kill(testbed, tier: str) -> None:
    os.kill(testbed.procs[tier].pid, signal.SIGKILL)
    testbed.procs[tier].exit_code(wait_s=5.0)


def test_parts_are_loaded_once_and_reloaded_after_their_tier_restarts(tiny_cnn, cnn_artifact, cnn_split):
    payload, spec = tiny_cnn.latency_inputs(1)[0], tiny_cnn.preprocessing()
    head, tail, _ = cnn_split
    testbed = make_testbed(TestbedConfig(kind="local"))
    with testbed:
        testbed.start(TIERS, LINKS)
        with testbed.client(timeout_s=30) as client:
            sent = _count_loads(client)
            deployment = Deployment(testbed, client)
            deployment.deploy("whole", ("edge",), cnn_artifact.parts, False, spec)
            deployment.deploy("split", ("mobile", "edge"), (head, tail), True, spec)
            deployment.deploy("whole", ("edge",), cnn_artifact.parts, False, spec)  # held already: not sent again
            assert sent == [("edge", "whole", "full"), ("mobile", "split", "head"), ("edge", "split", "tail")]
            assert deployment.held("mobile") == [Part("split", head, "head")]
            assert [p.preprocessing for p in deployment.held("edge")] == [spec, None]  # the tail gets tensors
            assert client.ping("edge")["artifacts"] == {"whole/full": "full", "split/tail": "tail"}
            whole = client.infer(ON_EDGE, "whole", payload).logits
            np.testing.assert_allclose(client.infer(SPLIT, "split", payload).logits, whole, atol=1e-4)

            _kill(testbed, "edge")  # a server that dies mid-study
            with pytest.raises(TierDown):
                client.infer(ON_EDGE, "whole", payload)
            sent.clear()
            assert deployment.recover("edge") == 2
            assert sent == [("edge", "whole", "full"), ("edge", "split", "tail")]  # mobile kept its head
            np.testing.assert_allclose(client.infer(ON_EDGE, "whole", payload).logits, whole, atol=1e-6)
            np.testing.assert_allclose(client.infer(SPLIT, "split", payload).logits, whole, atol=1e-4)

            testbed.restart("mobile")  # comes back empty: the ledger is what brings its head back
            assert client.ping("mobile")["artifacts"] == {}
            assert deployment.reload("mobile") == 1
            assert client.ping("mobile")["artifacts"] == {"split/head": "head"}

            deployment.unload_all()
            assert deployment.held("edge") == deployment.held("mobile") == []
            assert client.ping("edge")["artifacts"] == client.ping("mobile")["artifacts"] == {}


def test_a_real_host_that_stays_down_is_lost_and_its_parts_come_back_with_it(tiny_cnn, cnn_artifact):
    payload, spec = tiny_cnn.latency_inputs(1)[0], tiny_cnn.preprocessing()
    servers = ServeProcesses("tok")
    try:
        for tier in TIERS:
            servers.start(tier)
        testbed = make_testbed(TestbedConfig(kind="remote", endpoints=servers.addresses, token="tok"))
        testbed.start(TIERS, LINKS)
        with testbed.client(timeout_s=10) as client:
            deployment = Deployment(testbed, client)
            deployment.deploy("a", ("edge",), cnn_artifact.parts, False, spec)
            servers.kill("edge")
            with pytest.raises(TierLost, match="cannot be restarted from here"):  # found down at LOAD
                deployment.deploy("b", ("edge",), cnn_artifact.parts, False, spec)
            failures = []
            with pytest.raises(TierLost):
                deployment.recover("edge", attempts=2, on_failed_attempt=lambda n, exc: failures.append(n))
            assert failures == [1, 2]
            assert deployment.held("edge") == [Part("a", cnn_artifact.onnx, "full")]  # b never made it

            servers.start("edge")  # its owner brings it back, empty
            assert deployment.recover("edge") == 1
            assert np.isfinite(client.infer(ON_EDGE, "a", payload).logits).all()
            deployment.unload_all()
            assert client.ping("edge")["artifacts"] == {}
        testbed.stop()
    finally:
        servers.stop()
