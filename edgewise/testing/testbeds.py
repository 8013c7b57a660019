"""Conformance of a Testbed: the contract a study's recovery and measurement rely on, against real servers.

- `check_endpoints`: after `start`, every tier has a host:port (or unix:PATH) endpoint and answers a ping there;
- `check_verify`: `verify(quick=True)` returns a report of this testbed's kind with figures;
- `check_restart`: once a tier's server is killed, `restart(tier)` gives back a tier that answers, empty
  (a remote host's server cannot be started from here: its owner brings it back, `revive`, and restart
  only confirms it answers);
- `check_stop`: after `stop`, no server process the testbed started runs (a remote testbed's servers belong to
  their hosts and keep answering);
- `check_kind`: the testbed's kind leads from a study file back to its class (one table, testbeds/kinds.py),
  and its capabilities (real hosts, reshape, restart, emulated speed) agree.

`check_testbed(testbed, tiers, links, kill=..., revive=..., owns_servers=...)` runs them in order: it starts
the testbed and stops it. `kill(tier)` must kill that tier's server process (the suite knows how: a pid for
local and linux testbeds, the `edgewise serve` process it started for a remote one); servers must run on
this host, as they do in edgewise's suite. Each check takes seconds.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from edgewise.testbeds.base import Testbed
from edgewise.tiers.client import TierDown
from edgewise.tiers.spec import LinkSpec, TierSpec


def _answers(testbed: Testbed, tier: str) -> bool:
    try:
        with testbed.client(timeout_s=5.0) as client:
            client.ping(tier)
        return True
    except TierDown:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie is gone


def server_pids(testbed: Testbed, tiers) -> dict[str, int]:
    """The process id each tier's server reports (servers on this host: local, linux, loopback remote)."""
    with testbed.client(timeout_s=5.0) as client:
        return {tier: int(client.ping(tier)["pid"]) for tier in tiers}


def check_endpoints(testbed: Testbed, tiers: dict[str, TierSpec]) -> None:
    for tier in tiers:
        endpoint = testbed.endpoint(tier)
        host, _, port = endpoint.rpartition(":")
        assert endpoint.startswith("unix:/") or (host and port.isdigit()), \
            f"{testbed.kind}: endpoint of {tier} is {endpoint!r}, neither host:port nor unix:PATH"
        assert _answers(testbed, tier), f"{testbed.kind}: {tier} does not answer at {testbed.endpoint(tier)}"


def check_verify(testbed: Testbed) -> None:
    report = testbed.verify(quick=True)
    assert report.kind == testbed.kind, f"report of kind {report.kind!r} from a {testbed.kind!r} testbed"
    assert report.modelled == testbed.modelled, f"{testbed.kind}: report says modelled={report.modelled}"
    assert report.figures, f"{testbed.kind}: verify measured nothing"


def check_restart(testbed: Testbed, tier: str, kill: Callable[[str], None],
                  revive: Callable[[str], None] | None = None) -> None:
    kill(tier)
    assert not _answers(testbed, tier), f"{testbed.kind}: {tier} still answers after its server was killed"
    if revive is not None:
        revive(tier)
    testbed.restart(tier)
    with testbed.client(timeout_s=10.0) as client:
        assert client.ping(tier)["artifacts"] == {}, f"{testbed.kind}: a restarted {tier} should come back empty"


def check_stop(testbed: Testbed, pids: dict[str, int], owns_servers: bool = True) -> None:
    """By process id, not address: another run on the host may reuse the addresses at once."""
    testbed.stop()
    deadline = time.monotonic() + 5.0
    while owns_servers and any(_alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for tier, pid in pids.items():
        if owns_servers:
            assert not _alive(pid), f"{testbed.kind}: {tier}'s server (pid {pid}) still runs after stop"
        else:
            assert _alive(pid), f"{testbed.kind}: stop took down {tier}'s server, which belongs to its host"


def check_kind(testbed: Testbed) -> None:
    """The testbed's kind leads from a study file to its class, and its capabilities agree with each other."""
    from edgewise.config import TestbedConfig
    from edgewise.testbeds.kinds import testbed_class

    assert testbed.kind and testbed_class(testbed.kind) is type(testbed), (
        f"{type(testbed).__name__}: kind {testbed.kind!r} does not lead back to its class")
    assert TestbedConfig.model_fields["kind"].annotation is str  # any registered kind is a valid study file
    if testbed.real_hosts:
        assert not testbed.emulates_speed and not testbed.can_reshape, (
            f"{testbed.kind}: real hosts neither emulate a speed nor reshape their links")


def check_testbed(testbed: Testbed, tiers: dict[str, TierSpec], links: list[LinkSpec], *,
                  kill: Callable[[str], None], revive: Callable[[str], None] | None = None,
                  owns_servers: bool | None = None) -> None:
    """Every testbed check, in order, on a testbed not yet started; `kill`/`revive` act on the last tier.
    `owns_servers`: whether stopping the testbed stops its servers (default: it can restart them)."""
    check_kind(testbed)
    owns_servers = testbed.can_restart if owns_servers is None else owns_servers
    testbed.start(tiers, links)
    try:
        check_endpoints(testbed, tiers)
        check_verify(testbed)
        check_restart(testbed, list(tiers)[-1], kill, revive)
        pids = server_pids(testbed, tiers)
    except BaseException:
        testbed.stop()
        raise
    check_stop(testbed, pids, owns_servers)
