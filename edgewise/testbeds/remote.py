"""The remote testbed: tier servers already running on real hosts (`edgewise serve`), reached by address.

Nothing is started or shaped here: the links and CPUs are real, so they are measured, not
verified against a request (testbeds/measured.py): RTT, jitter and goodput of every link the
study's placements use, each tier's speed relative to this client, and each host's description
from its PING. A server whose edgewise version differs from the client's is refused. A tier that
dies cannot be restarted from here: `restart` only finds out whether its owner brought it back.
"""

from __future__ import annotations

import edgewise
from edgewise.errors import TestbedError
from edgewise.testbeds.base import Testbed
from edgewise.testbeds.emulation import EmulationReport
from edgewise.testbeds.measured import describe_hosts, measure_links
from edgewise.testbeds.verify import verify_speed
from edgewise.tiers.client import TierClient, TierDown, TierLost
from edgewise.tiers.host import version_mismatch
from edgewise.tiers.spec import LinkSpec, TierSpec

MEASURED_NOTE = "measured on real hosts: links and tiers are what the network and machines are, not emulated"


class RemoteTestbed(Testbed):
    kind = "remote"
    modelled = False
    emulates_speed = False
    real_hosts = True
    can_reshape = False
    can_restart = False

    @classmethod
    def from_config(cls, config) -> "RemoteTestbed":
        return cls(config.endpoints, config.token)

    @classmethod
    def check_config(cls, config) -> str | None:
        if not config.endpoints:
            return "a remote testbed needs testbed.endpoints (tier: host:port)"
        return super().check_config(config)

    def __init__(self, endpoints: dict[str, str], token: str | None = None):
        if not endpoints:
            raise TestbedError("a remote testbed needs endpoints", "set testbed.endpoints: {mobile: host:port, ...}")
        self.endpoints = dict(endpoints)
        self.token = token
        self.tiers: dict[str, TierSpec] = {}
        self.links: list[LinkSpec] = []
        self.hosts: dict[str, dict] = {}  # tier -> its PING description

    def start(self, tiers: dict[str, TierSpec], links: list[LinkSpec]) -> None:
        """Check that every tier answers and runs this client's edgewise; `links` name what to measure."""
        missing = [t for t in tiers if t not in self.endpoints]
        if missing:
            raise TestbedError(f"no endpoint for tier(s) {', '.join(missing)}", "add them to testbed.endpoints")
        self.tiers, self.links = dict(tiers), list(links)
        with self.client(timeout_s=10.0) as client:
            for tier in tiers:
                try:
                    host = client.ping(tier).get("host") or {}
                except TierDown as exc:
                    raise TestbedError(f"tier {tier} at {self.endpoints[tier]} does not answer ({exc})",
                                       f"start `edgewise serve --tier {tier}` there and check the address") from None
                self.hosts[tier] = host
                mismatch = version_mismatch(tier, self.endpoints[tier], host)
                if mismatch:
                    raise TestbedError(mismatch, f"install edgewise {edgewise.__version__} on that host (the same "
                                                 "version as this client) and restart its `edgewise serve`")

    def endpoint(self, tier: str) -> str:
        return self.endpoints[tier]

    def client(self, timeout_s: float = 120.0) -> TierClient:
        return TierClient(self.endpoints, self.token, timeout_s, ship_models=True)

    def restart(self, tier: str) -> None:
        """A real host's server cannot be started from here: succeed only if its owner brought it back."""
        with self.client(timeout_s=5.0) as client:
            try:
                client.ping(tier)
            except TierDown as exc:
                cap = (self.hosts.get(tier) or {}).get("memory_cap") or {}
                oom = (f"; its memory cap of {cap.get('memory_mb')} MiB is enforced, so a model too large for it "
                       "gets the server killed") if cap.get("enforced") else ""
                raise TierLost(tier, f"at {self.endpoints.get(tier)}, which cannot be restarted from here: "
                                     f"{exc.message}{oom}") from None

    def verify(self, quick: bool = False) -> EmulationReport:
        report = EmulationReport(self.kind, self.modelled)
        report.notes.append(MEASURED_NOTE)
        report.labels = {name: {"speed": "real device (measured against this host, not modelled)",
                                "share": "real device", "memory": "real device", "links": "real network"}
                         for name in self.tiers}
        pairs = [(link.a, link.b) for link in self.links]
        with self.client() as client:
            describe_hosts(client, list(self.tiers), report)
            measure_links(client, pairs, report, quick)
            verify_speed(client, self.tiers, report, quick, self.host_nominal(), real_hosts=True)
        return report

    def stop(self) -> None:
        """The remote servers keep running: they belong to their hosts."""
