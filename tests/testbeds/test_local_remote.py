"""The local fallback (modelled links) and the remote testbed against servers on loopback."""

from __future__ import annotations

import numpy as np
import pytest

from edgewise.config import TestbedConfig
from edgewise.errors import TestbedError
from edgewise.testbeds import make_testbed
from edgewise.tiers.client import TierLost
from edgewise.tiers.server import ServerConfig, TierServer
from edgewise.tiers.spec import LinkSpec, Placement, TierSpec, route_for

# Below the nominal speed, as every preset's tiers: a host slower than its nominal cannot hold a tier at 1.0.
TIERS = {"mobile": TierSpec("mobile", 0.5, 1024, speed=0.25), "edge": TierSpec("edge", 1.0, 2048, speed=0.5)}
LINKS = [LinkSpec("client", "mobile", 100.0, delay_ms=2.0), LinkSpec("mobile", "edge", 20.0, delay_ms=5.0)]


def test_local_testbed_models_links(tiny_cnn, cnn_artifact, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # to see what the testbed leaves behind
    testbed = make_testbed(TestbedConfig(kind="local"))
    with testbed:
        testbed.start(TIERS, LINKS)
        report = testbed.verify(quick=True)
        links = [f for f in report.failures(0.10) if not f.startswith("speed:")]  # speed: tests/tiers/test_speed.py
        assert report.modelled and not links, links
        assert report.get("rtt:mobile-edge").achieved == pytest.approx(10.0, abs=2.0)
        assert report.get("cpu:mobile").achieved is None  # a fractional share cannot be expressed
        assert report.labels["mobile"]["speed"].startswith("modelled") and report.get("speed:edge:3ms").achieved > 0
        with testbed.client(timeout_s=30) as client:
            client.load("edge", "a", cnn_artifact.onnx, "full", tiny_cnn.preprocessing())
            result = client.infer(route_for(Placement.parse("edge")), "a", tiny_cnn.latency_inputs(1)[0])
        assert result.breakdown["link:mobile-edge"] >= 0.010
    assert list(tmp_path.iterdir()) == []  # logs and received models went with the testbed


def test_remote_testbed_with_loopback_servers(tiny_cnn, cnn_artifact):
    servers = {t: TierServer(ServerConfig(tier=t, token="tok")).start() for t in TIERS}
    for s in servers.values():
        s.config.peers.update({t: o.address for t, o in servers.items()})
    try:
        config = TestbedConfig(kind="remote", endpoints={t: s.address for t, s in servers.items()}, token="tok")
        testbed = make_testbed(config)
        testbed.start(TIERS, LINKS)
        report = testbed.verify(quick=True)
        assert report.get("rtt:client-mobile").achieved < 5.0
        assert report.get("rtt:client-mobile").requested is None  # measured, nothing was asked of a real link
        assert report.get("speed:edge:0.3ms").achieved > 0 and report.hosts["edge"]["edgewise"]
        assert report.get("speed:edge:0.3ms").requested is None and report.labels["edge"]["speed"].startswith("real")
        with testbed.client() as client:  # models travel as bytes to a remote host
            client.load("mobile", "r", cnn_artifact.onnx, "full", tiny_cnn.preprocessing())
            logits = client.infer(route_for(Placement.parse("mobile")), "r", tiny_cnn.latency_inputs(1)[0]).logits
        assert np.isfinite(logits).all()
        testbed.restart("edge")  # a live server: nothing to do
        servers["edge"].stop()
        with pytest.raises(TierLost, match="cannot be restarted from here"):
            testbed.restart("edge")
    finally:
        for s in servers.values():
            s.stop()


def test_remote_testbed_refuses_a_missing_server():
    config = TestbedConfig(kind="remote", endpoints={"mobile": "127.0.0.1:1"})
    with pytest.raises(TestbedError, match="does not answer"):
        make_testbed(config).start({"mobile": TIERS["mobile"]}, [])


def test_the_testbed_section_sets_each_tier_servers_queue_depth():
    testbed = make_testbed(TestbedConfig(kind="local", queue_depth=3, verify=False))
    with testbed:
        testbed.start(TIERS, LINKS)
        with testbed.client(timeout_s=30) as client:
            assert {t: client.ping(t)["queue_depth"] for t in TIERS} == {"mobile": 3, "edge": 3}
    with pytest.raises(Exception, match="queue_depth"):
        TestbedConfig(kind="local", queue_depth=0)
