"""The Linux testbed with real namespaces, veths, tbf and cgroups (root only)."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from edgewise.config import TestbedConfig
from edgewise.testbeds import make_testbed
from edgewise.testbeds.emulation import EmulationReport
from edgewise.testbeds.verify import SPEED_TOLERANCE, verify_cpu
from edgewise.tiers.client import DoesNotFit, TierDown
from edgewise.tiers.spec import LinkSpec, Placement, TierSpec, route_for
from tests.conftest import needs_root
from tests.testbeds.idle import halting_states, halts_during
from tests.tiers.speedcheck import p90_over_p50, slowdown, tight

pytestmark = needs_root


@pytest.fixture(scope="module", autouse=True)
def workload_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
        yield


@pytest.fixture(scope="module")
def paper_scaled(workload_cache):
    """The paper-scaled preset, with a 5 ms delay on mobile-edge to exercise the delayer."""
    config = TestbedConfig(kind="linux", links={"mobile-edge": {"bandwidth_mbit": 200.0, "delay_ms": 5.0}})
    testbed = make_testbed(config)
    testbed.start(config.tier_specs(), config.link_specs())
    yield testbed
    testbed.stop()


def test_verify_paper_scaled(paper_scaled):
    report = paper_scaled.verify(quick=True)
    data = report.to_dict()
    names = {f["name"] for f in data["figures"]}
    assert {"rtt:mobile-edge", "bandwidth:edge-cloud:up", "bandwidth:edge-cloud:down", "cpu:mobile",
            "memory:mobile"} <= names
    assert all(f["requested"] is not None for f in data["figures"] if f["gates"])
    # Shaping and caps must be real: the kernel holds them and the slow link is slow.
    assert report.get("rtt:mobile-edge").achieved == pytest.approx(10.0, abs=2.0)
    assert report.get("bandwidth:edge-cloud:up").achieved == pytest.approx(1.0, rel=0.10)
    assert report.get("memory:mobile").achieved == 1024.0
    assert "killed" in report.get("memory:mobile").note
    # Shares of a core or more are read back from the kernel: at least one core, so one stream never throttles.
    assert report.get("cpu:mobile").requested == 1.0 and report.get("cpu:mobile").achieved == 1.0
    # Per-request speed: every tier, every workload size, requested as 1 / speed and measured.
    for tier, speed in ((t, paper_scaled.tiers[t].speed) for t in ("mobile", "edge", "cloud")):
        for size in ("0.3ms", "3ms", "30ms"):
            figure = report.get(f"speed:{tier}:{size}")
            assert figure.requested == 1 / speed and figure.achieved > 0 and figure.gates
            assert figure.note.startswith("modelled (compute stretched in the tier server)")
    assert data["labels"]["mobile"]["speed"].startswith("modelled") and data["labels"]["mobile"]["share"].startswith(
        "enforced")
    assert any(note.startswith("idle states: the host's cores held awake") for note in data["notes"])


def test_a_running_testbed_keeps_the_cores_out_of_halting_idle_states(paper_scaled):
    """While it emulates, no core halts: a step after an idle spell would pay for it (testbeds/awake.py)."""
    assert paper_scaled.idle_states().startswith("idle states: the host's cores held awake")
    if not halting_states():
        pytest.skip("this kernel has no halting idle state to keep the cores out of")
    assert halts_during(0.3) == 0


def test_a_slow_tier_is_slow_per_request_under_its_cgroup(paper_scaled):
    """Through the real netns, tbf and cgroups: 0.3 ms and 3 ms requests each take 1 / speed as long as on
    the nominal host, never less, and more by at most what the workload's cold start costs on this host
    now (a busy host evicts a tier's caches between requests: tiers/hostspeed.py)."""
    nominal = paper_scaled.host_nominal()
    for tier in ("mobile", "edge"):
        speed = paper_scaled.tiers[tier].speed
        route = route_for(Placement.parse(tier))
        with paper_scaled.client(timeout_s=30) as client:
            for size in ("0.3ms", "3ms"):
                nominal_s = nominal.workloads_s[size]
                attempts = []
                for _ in range(3):  # a disturbed series is measured again, as verification does
                    attempts.append(slowdown(client, tier, route, size, nominal=nominal))
                    achieved, on_tier, series = attempts[-1]
                    if _held_to_speed(achieved, series, speed, nominal_s) and _spread_ok(on_tier, series, speed):
                        break
                # Load only makes a series slower or looser: one series within each bound shows the tier holds.
                assert any(_held_to_speed(a, s, speed, nominal_s) for a, _, s in attempts), (
                    tier, size, [a for a, _, _ in attempts])
                assert any(_spread_ok(t, s, speed) for _, t, s in attempts), (
                    tier, size, [p90_over_p50(t) for _, t, _ in attempts])


def _held_to_speed(achieved: float, series, speed: float, nominal_s: float) -> bool:
    """Within the tolerance of 1 / speed, and above it by at most the workload's cold start now."""
    return 1 - SPEED_TOLERANCE <= achieved * speed <= 1 + SPEED_TOLERANCE + series.cold_extra_s() / nominal_s


def _spread_ok(on_tier: list[float], series, speed: float) -> bool:
    """No stall behind a quota: p90 within 1.5 x p50 and the cold start stretched to the tier's time."""
    return tight(on_tier, series.cold_extra_s() / speed)


def test_a_share_under_one_core_is_held(tmp_path):
    """A share below a core is still enforced by the quota: a spinner in the cgroup receives half a core."""
    testbed = make_testbed(TestbedConfig(kind="linux"))
    with testbed:
        testbed.start({"mobile": TierSpec("mobile", cpus=0.5, memory_mb=256)}, [LinkSpec("client", "mobile", 100.0)])
        report = EmulationReport("linux", False)
        verify_cpu(testbed._workload, testbed.tiers, {}, report, quick=True)
    assert report.get("cpu:mobile").achieved == pytest.approx(0.5, rel=0.15)


def test_inference_across_the_emulated_tiers(paper_scaled, tiny_cnn, cnn_artifact, cnn_split):
    head, tail, _ = cnn_split
    payload = tiny_cnn.latency_inputs(1)[0]
    with paper_scaled.client(timeout_s=30) as client:
        client.load("edge", "full", cnn_artifact.onnx, "full", tiny_cnn.preprocessing())
        client.load("mobile", "split", head, "head", tiny_cnn.preprocessing())
        client.load("edge", "split", tail, "tail", None)
        full = client.infer(route_for(Placement.parse("edge")), "full", payload)
        split = client.infer(route_for(Placement.parse("mobile-edge")), "split", payload)
    np.testing.assert_allclose(full.logits, split.logits, rtol=1e-4, atol=1e-5)
    # 5 ms each way on mobile-edge is paid by both requests.
    assert full.breakdown["link:mobile-edge"] >= 0.009
    assert split.breakdown["link:mobile-edge"] >= 0.009


def test_killed_tier_is_down_then_restarted(paper_scaled, tiny_cnn, cnn_artifact):
    payload = tiny_cnn.latency_inputs(1)[0]
    route = route_for(Placement.parse("mobile"))
    with paper_scaled.client(timeout_s=30) as client:
        client.load("mobile", "m", cnn_artifact.onnx, "full", tiny_cnn.preprocessing())
        client.infer(route, "m", payload)
        os.kill(paper_scaled.procs["mobile"].pid, signal.SIGKILL)
        with pytest.raises(TierDown) as info:
            client.infer(route, "m", payload)
        assert info.value.tier == "mobile" and not isinstance(info.value, DoesNotFit)
        paper_scaled.restart("mobile")
        client.load("mobile", "m", cnn_artifact.onnx, "full", tiny_cnn.preprocessing())
        assert client.infer(route, "m", payload).logits.shape == (1, 4)


def _memory_hungry_model(path) -> None:
    """A model whose inference allocates ~400 MB (a ConstantOfShape the size of its input value)."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("ConstantOfShape", ["n"], ["big"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
             helper.make_node("ReduceSum", ["big"], ["logits"], keepdims=1)]
    graph = helper.make_graph(nodes, "hungry", [helper.make_tensor_value_info("n", TensorProto.INT64, [1])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_oom_under_a_small_cap_is_does_not_fit(tmp_path):
    model = tmp_path / "hungry.onnx"
    _memory_hungry_model(model)
    tiers = {"mobile": TierSpec("mobile", cpus=1.0, memory_mb=300)}
    links = [LinkSpec("client", "mobile", bandwidth_mbit=1000.0)]
    testbed = make_testbed(TestbedConfig(kind="linux"))
    with testbed:
        testbed.start(tiers, links)
        with testbed.client(timeout_s=30) as client:
            client.load("mobile", "hungry", model, "full", None)
            pool = client._data["mobile"]
            from edgewise.tiers.wire import Frame

            frame = Frame("INFER", {"artifact": "hungry", "route": [["mobile", "full"]], "links": [["client", "mobile"]],
                                    "hop": 0}, {"n": np.array([100_000_000], np.int64)})
            with pytest.raises(DoesNotFit) as info:
                client._exchange(pool, "mobile", frame)
        assert info.value.tier == "mobile"
        testbed.restart("mobile")
        with testbed.client(timeout_s=30) as client:
            assert client.ping("mobile")["artifacts"] == {}


def test_stale_run_is_cleaned_up():
    from edgewise.testbeds import cleanup_stale, netns
    from edgewise.testbeds.cgroups import TierCgroup
    from edgewise.testbeds.linux import STATE_DIR

    # What a crashed run leaves: a namespace, a cgroup and a state directory whose owner is gone.
    netns.create_namespace("ew-dead01-mobile")
    TierCgroup("edgewise-dead01-mobile").create(0.5, 64)
    (STATE_DIR / "dead01").mkdir(parents=True, exist_ok=True)
    (STATE_DIR / "dead01" / "owner").write_text("999999999")
    removed = cleanup_stale()
    assert any("ew-dead01-mobile" in r for r in removed)
    assert any("edgewise-dead01-mobile" in r for r in removed)
    assert "ew-dead01-mobile" not in netns.namespaces()
