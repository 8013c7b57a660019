"""Links reshaped in place on a running testbed: the tiers keep running, the new figures are verified."""

from __future__ import annotations

import pytest

from edgewise.config import TestbedConfig
from edgewise.planning.conditions import Condition
from edgewise.testbeds import make_testbed
from tests.conftest import needs_root


def _reshaped_figures(kind: str) -> tuple[dict[str, float], dict[str, int], dict[str, int]]:
    config = TestbedConfig(kind=kind, preset="realistic")
    testbed = make_testbed(config)
    links = config.link_specs()
    try:
        testbed.start(config.tier_specs(), links)
        with testbed.client() as client:
            pids = {t: client.ping(t)["pid"] for t in ("mobile", "edge", "cloud")}
            condition = Condition.parse("edge-cloud=8mbit,15ms~client-mobile=40mbit")
            testbed.reshape(condition.apply(links), client)
            after = {t: client.ping(t)["pid"] for t in ("mobile", "edge", "cloud")}
            own = client.probe("client", "mobile", 0, count=5)
        changed = [link for link in condition.apply(links) if condition.setting(link.name)]
        report = testbed.verify_links(changed, quick=True)
        figures = {f.name: f.achieved for f in report.figures}
        figures["client_rtt_ms"] = own["rtt_ms"]
        return figures, pids, after
    finally:
        testbed.stop()


def _check(figures, pids, after):
    assert pids == after, "no tier was restarted"
    assert 30.0 <= figures["rtt:edge-cloud"] <= 45.0  # 15 ms each way, from 25 ms
    assert 5.0 <= figures["bandwidth:edge-cloud:up"] <= 8.8 and 5.0 <= figures["bandwidth:edge-cloud:down"] <= 8.8
    assert 25.0 <= figures["bandwidth:client-mobile:up"] <= 44.0  # from 1000 Mbit/s
    assert figures["rtt:client-mobile"] < 5.0


def test_local_testbed_reshapes_its_modelled_links_in_place():
    _check(*_reshaped_figures("local"))


@needs_root
@pytest.mark.root
def test_linux_testbed_changes_tbf_and_delays_in_place():
    _check(*_reshaped_figures("linux"))


@pytest.mark.parametrize("shapes", [None, {"edge": 5}, {"edge": {"delay_s": -1}}, {"edge": {"rate_mbit": 0}}])
def test_a_running_server_refuses_a_bad_shape_and_keeps_its_own(shapes):
    from edgewise.tiers.client import TierClient
    from edgewise.tiers.server import ServerConfig, TierServer
    from edgewise.tiers.shaping import LinkShape
    from edgewise.tiers.wire import Frame

    server = TierServer(ServerConfig("mobile", shapes={"edge": LinkShape(0.002)})).start()
    try:
        with TierClient({"mobile": server.address}) as client:
            with pytest.raises(Exception, match="SHAPE"):
                client._control_request("mobile", Frame("SHAPE", {"shapes": shapes}))
            assert server.config.shapes["edge"].delay_s == 0.002
            client.reshape("mobile", {"edge": LinkShape(0.005, 40.0)})
        shape = server.config.shapes["edge"]
        assert (shape.delay_s, shape.rate_mbit, shape.bucket.rate) == (0.005, 40.0, 5e6)
    finally:
        server.stop()
