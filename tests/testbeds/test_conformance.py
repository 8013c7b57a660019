"""Every testbed kind that can run here passes the public testbed checks (edgewise.testing.testbeds):
linux (as root), local, and remote against `edgewise serve` processes on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from edgewise.config import TestbedConfig
from edgewise.testbeds import make_testbed
from edgewise.testing.testbeds import check_testbed
from edgewise.tiers.spec import LinkSpec, TierSpec
from tests.conftest import needs_root

# Below the nominal speed, as every preset's tiers: a host slower than its nominal cannot hold a tier at 1.0.
TIERS = {"mobile": TierSpec("mobile", 0.5, 1024, speed=0.25), "edge": TierSpec("edge", 1.0, 2048, speed=0.5)}
LINKS = [LinkSpec("client", "mobile", 100.0, delay_ms=2.0), LinkSpec("mobile", "edge", 20.0, delay_ms=5.0)]


def _kill_by_pid(testbed):
    def kill(tier: str) -> None:
        os.kill(testbed.procs[tier].pid, signal.SIGKILL)
        testbed.procs[tier].exit_code(wait_s=5.0)  # reaped: the port is free again

    return kill


def test_local_testbed_conforms():
    testbed = make_testbed(TestbedConfig(kind="local"))
    check_testbed(testbed, TIERS, LINKS, kill=_kill_by_pid(testbed))


@pytest.mark.root
@needs_root
def test_linux_testbed_conforms():
    testbed = make_testbed(TestbedConfig(kind="linux"))
    check_testbed(testbed, TIERS, LINKS, kill=_kill_by_pid(testbed))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcesses:
    """`edgewise serve` for each tier on loopback, as the owner of real hosts would run them."""

    def __init__(self, token: str, extra: dict[str, list[str]] | None = None):
        self.token = token
        self.addresses = {t: f"127.0.0.1:{_free_port()}" for t in TIERS}
        self.procs: dict[str, subprocess.Popen] = {}
        self.extra = extra or {}  # more `edgewise serve` options per tier

    def start(self, tier: str) -> None:
        peers = ",".join(f"{t}={a}" for t, a in self.addresses.items() if t != tier)
        proc = subprocess.Popen([sys.executable, "-m", "edgewise.cli", "serve", "--tier", tier, "--listen",
                                 self.addresses[tier], "--token", self.token, "--peers", peers,
                                 *self.extra.get(tier, [])],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.procs[tier] = proc
        line = proc.stdout.readline()  # "tier X serving on ..." once it listens
        assert "serving on" in line, line + proc.stdout.read()

    def kill(self, tier: str) -> None:
        self.procs[tier].kill()
        self.procs[tier].wait()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait()


def test_remote_testbed_conforms_against_serve_processes():
    servers = ServeProcesses("tok")
    try:
        for tier in TIERS:
            servers.start(tier)
        testbed = make_testbed(TestbedConfig(kind="remote", endpoints=servers.addresses, token="tok"))
        check_testbed(testbed, TIERS, LINKS, kill=servers.kill, revive=servers.start, owns_servers=False)
    finally:
        servers.stop()
