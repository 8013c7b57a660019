"""Per-request speed: real tier server processes stretch every request, short ones included, by 1 / speed.

Timing checks get up to three attempts on a shared host (tests/tiers/speedcheck.py).
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from edgewise.config import TestbedConfig, parse_study
from edgewise.errors import ConfigError
from edgewise.testbeds import make_testbed
from edgewise.testbeds.verify import SPEED_TOLERANCE
from edgewise.tiers.speed import Pace
from edgewise.tiers.spec import LinkSpec, Placement, TierSpec, route_for
from tests.tiers.speedcheck import p90_over_p50, slowdown, tight, within


@pytest.fixture(scope="module", autouse=True)
def workload_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
        yield


@pytest.fixture(scope="module")
def slow_tiers():
    """Two tier server processes (the local testbed): mobile at speed 0.25, edge at 0.5, one thread each."""
    tiers = {"mobile": TierSpec("mobile", 1.0, 1024, speed=0.25), "edge": TierSpec("edge", 1.0, 1024, speed=0.5)}
    links = [LinkSpec("client", "mobile", 1000.0), LinkSpec("mobile", "edge", 1000.0)]
    testbed = make_testbed(TestbedConfig(kind="local"))
    testbed.start(tiers, links)
    yield testbed
    testbed.stop()


@pytest.mark.parametrize("tier,speed", [("mobile", 0.25), ("edge", 0.5)])
@pytest.mark.parametrize("workload", ["0.3ms", "3ms"])
def test_every_request_is_slowed_by_one_over_speed(slow_tiers, tier, speed, workload):
    route = route_for(Placement.parse(tier))
    with slow_tiers.client(timeout_s=30) as client:
        achieved, on_tier = within(lambda: slowdown(client, tier, route, workload), 1 / speed, also=tight)
    assert achieved == pytest.approx(1 / speed, rel=SPEED_TOLERANCE)
    assert tight(on_tier), p90_over_p50(on_tier)


def test_pace_stretches_a_step_by_its_cpu_time():
    def busy(seconds: float) -> None:
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass

    pace = Pace(speed=0.5)

    def measure():
        t0 = time.perf_counter()
        pace.run(lambda: busy(0.004))
        return (time.perf_counter() - t0) / 0.004, None

    ratio, _ = within(measure, 2.0)
    assert ratio == pytest.approx(2.0, rel=SPEED_TOLERANCE)
    assert Pace(speed=1.0).run(lambda: 7) == 7  # this host's speed: nothing held


def test_a_speed_above_this_host_is_refused():
    study = {"subjects": ["tiny-cnn"], "cells": [{"chains": ["identity"], "placements": ["cloud"]}],
             "testbed": {"tiers": {"cloud": {"cpus": 2.0, "memory_mb": 1024, "speed": 1.5}}}}
    with pytest.raises(ConfigError, match="faster than this host") as info:
        parse_study(study)
    assert "speed 1.0" in info.value.hint
    with pytest.raises(ConfigError, match="faster than this host"):
        TierSpec("cloud", 2.0, 1024, speed=2.0)
    proc = subprocess.run([sys.executable, "-m", "edgewise.tiers.server", "--tier", "edge", "--speed", "1.5"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "faster than this host" in proc.stderr


def test_presets_keep_the_reference_ratio_and_never_throttle_one_stream():
    for preset in ("paper-scaled", "realistic", "paper-exact"):
        tiers = TestbedConfig(preset=preset).tier_specs()
        assert [tiers[t].speed for t in ("mobile", "edge", "cloud")] == [0.25, 0.5, 1.0]
        assert all(t.cpus >= t.intra_op_threads for t in tiers.values())
    # A tier the file overrides keeps the preset's speed unless the file states one.
    override = TestbedConfig(tiers={"mobile": {"cpus": 1.0, "memory_mb": 512}}).tier_specs()["mobile"]
    assert (override.speed, override.memory_mb) == (0.25, 512)


def test_calibrate_against_a_device_recovers_its_speed(tmp_path):
    """A loopback `edgewise serve --speed 0.5` stands for a device half as fast as this host."""
    import json
    import os

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    serve = subprocess.Popen([sys.executable, "-m", "edgewise.cli", "serve", "--tier", "mobile", "--listen",
                              "127.0.0.1:0", "--threads", "1", "--speed", "0.5", "--token", "tok"],
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        address = serve.stdout.readline().split(" on ")[1].split()[0]

        def measure():
            out = subprocess.run([sys.executable, "-m", "edgewise.cli", "testbed", "calibrate", address, "--token",
                                  "tok", "--quick", "--json"], capture_output=True, text=True, env=env, timeout=120)
            assert out.returncode == 0, out.stderr
            data = json.loads(out.stdout)
            return data["settings"]["speed"], data

        speed, data = within(measure, 0.5)
    finally:
        serve.terminate()
        serve.wait(10)
    assert speed == pytest.approx(0.5, rel=SPEED_TOLERANCE)
    assert data["tier"] == "mobile" and data["settings"]["threads"] == 1 and not data["capped"]
    assert set(data["workloads"]) == {"0.3ms", "3ms", "30ms"}
    assert "speed:" in data["yaml"] and "mobile:" in data["yaml"]
