"""A new testbed kind is one file: its Testbed subclass registers its kind, a study file may name it, and it
passes the public testbed checks (here a local testbed under a kind of its own, as a plug-in would start)."""

from __future__ import annotations

import os
import signal

import yaml

from edgewise.config import TestbedConfig, load_study
from edgewise.testbeds import make_testbed
from edgewise.testbeds.local import LocalTestbed
from edgewise.testing.testbeds import check_testbed
from edgewise.tiers.spec import LinkSpec, TierSpec


class LoopbackHosts(LocalTestbed):
    kind = "loopback-hosts"

    @classmethod
    def from_config(cls, config) -> "LoopbackHosts":
        return cls(token=config.token, queue_depth=config.queue_depth)


def test_a_testbed_of_a_new_kind_is_named_in_a_study_file_and_conforms(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"subjects": ["tiny-cnn"], "testbed": {"kind": "loopback-hosts"},
                                    "cells": [{"chains": ["identity"], "placements": ["edge"]}]}))
    config = load_study(path)
    testbed = make_testbed(config.testbed)
    assert isinstance(testbed, LoopbackHosts) and testbed.can_restart and not testbed.real_hosts

    def kill(tier: str) -> None:
        os.kill(testbed.procs[tier].pid, signal.SIGKILL)
        testbed.procs[tier].exit_code(wait_s=5.0)

    check_testbed(testbed, {"mobile": TierSpec("mobile", 1.0, 1024, speed=0.5), "edge": TierSpec("edge", 1.0, 1024, speed=0.5)},
                  [LinkSpec("client", "mobile", 100.0), LinkSpec("mobile", "edge", 50.0)], kill=kill)
    assert TestbedConfig(kind="loopback-hosts").kind == "loopback-hosts"
