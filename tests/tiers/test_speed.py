"""Per-request speed: configuration, and calibration against a real `edgewise serve` process.

The slowdown of requests through real tier servers under their cgroups is tested with the linux
testbed (tests/testbeds/test_linux.py). Timing checks get up to three attempts (tests/tiers/speedcheck.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from edgewise.config import TestbedConfig, parse_study
from edgewise.errors import ConfigError
from edgewise.testbeds.cgroups import PREFIX, TierCgroup
from edgewise.testbeds.linux import STATE_DIR
from edgewise.testbeds.verify import SPEED_TOLERANCE
from edgewise.tiers.spec import TierSpec
from tests.conftest import IS_ROOT
from tests.tiers.speedcheck import within


@pytest.fixture(scope="module", autouse=True)
def workload_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
        yield


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


def test_presets_keep_the_reference_ratio_leave_headroom_and_never_throttle_one_stream():
    for preset in ("paper-scaled", "realistic", "paper-exact"):
        tiers = TestbedConfig(preset=preset).tier_specs()
        mobile, edge, cloud = (tiers[t].speed for t in ("mobile", "edge", "cloud"))
        assert (edge / mobile, cloud / mobile) == pytest.approx((2.0, 4.0))
        assert cloud <= 0.8  # the host may drift a quarter slower than nominal before the cloud cannot be held
        assert all(t.cpus >= t.intra_op_threads for t in tiers.values())
    # A tier the file overrides keeps the preset's speed unless the file states one.
    override = TestbedConfig(tiers={"mobile": {"cpus": 1.0, "memory_mb": 512}}).tier_specs()["mobile"]
    assert (override.speed, override.memory_mb) == (TestbedConfig().tier_specs()["mobile"].speed, 512)


def test_calibrate_against_a_device_recovers_its_speed(tmp_path):
    """A loopback `edgewise serve --speed 0.5` stands for a device half as fast as this host (as root it
    runs in a cgroup of its own, as a device has its own CPU)."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    run = f"calib{os.getpid()}"
    group = TierCgroup(f"{PREFIX}{run}-device") if IS_ROOT else None
    if group is not None:
        # An owner on record, or a testbed starting meanwhile removes the cgroup as a crashed run's.
        (STATE_DIR / run).mkdir(parents=True, exist_ok=True)
        (STATE_DIR / run / "owner").write_text(str(os.getpid()))
        group.create(cpus=1.0, memory_mb=2048)
    serve = subprocess.Popen([sys.executable, "-m", "edgewise.cli", "serve", "--tier", "mobile", "--listen",
                              "127.0.0.1:0", "--threads", "1", "--speed", "0.5", "--token", "tok"],
                             stdout=subprocess.PIPE, text=True, env=env, preexec_fn=group.join if group else None)
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
        if group is not None:
            group.remove()
            shutil.rmtree(STATE_DIR / run, ignore_errors=True)
    assert speed == pytest.approx(0.5, rel=SPEED_TOLERANCE), data["workloads"]
    assert data["tier"] == "mobile" and data["settings"]["threads"] == 1 and not data["capped"]
    assert set(data["workloads"]) == {"0.3ms", "3ms", "30ms"}
    assert "speed: 0." in data["yaml"] and "mobile:" in data["yaml"]
