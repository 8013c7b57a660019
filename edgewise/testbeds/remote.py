"""The remote testbed: tier servers already running on real hosts (`edgewise serve`), reached by address.

Nothing is started or shaped here: the links and CPUs are real. Verification measures RTT and
goodput with the servers' echo (client -> first tier, then tier -> tier); CPU scaling and memory
caps are not applicable and are reported as such.
"""

from __future__ import annotations

from edgewise.errors import TestbedError
from edgewise.testbeds.base import EmulationReport, Figure, Testbed
from edgewise.testbeds.verify import verify_links, verify_speed
from edgewise.tiers.client import TierClient, TierDown
from edgewise.tiers.spec import LinkSpec, TierSpec


class RemoteTestbed(Testbed):
    kind = "remote"
    modelled = False

    def __init__(self, endpoints: dict[str, str], token: str | None = None):
        if not endpoints:
            raise TestbedError("a remote testbed needs endpoints", "set testbed.endpoints: {mobile: host:port, ...}")
        self.endpoints = dict(endpoints)
        self.token = token
        self.tiers: dict[str, TierSpec] = {}
        self.links: list[LinkSpec] = []

    def start(self, tiers: dict[str, TierSpec], links: list[LinkSpec]) -> None:
        missing = [t for t in tiers if t not in self.endpoints]
        if missing:
            raise TestbedError(f"no endpoint for tier(s) {', '.join(missing)}", "add them to testbed.endpoints")
        self.tiers, self.links = dict(tiers), list(links)
        with self.client(timeout_s=10.0) as client:
            for tier in tiers:
                try:
                    client.ping(tier)
                except TierDown as exc:
                    raise TestbedError(f"tier {tier} at {self.endpoints[tier]} does not answer ({exc})",
                                       f"start `edgewise serve --tier {tier}` there and check the address") from None

    def endpoint(self, tier: str) -> str:
        return self.endpoints[tier]

    def client(self, timeout_s: float = 120.0) -> TierClient:
        return TierClient(self.endpoints, self.token, timeout_s, ship_models=True)

    def restart(self, tier: str) -> None:
        raise TestbedError(f"tier {tier} on a remote host is down and cannot be restarted from here",
                           f"restart `edgewise serve --tier {tier}` on {self.endpoints.get(tier)}")

    def verify(self, quick: bool = False) -> EmulationReport:
        report = EmulationReport(self.kind, self.modelled)
        report.notes.append("real hosts: links and CPUs are measured, not requested; CPU scaling not applicable")
        report.labels = {name: {"speed": "real device (measured against this host, not modelled)",
                                "share": "real device", "memory": "real device", "links": "real network"}
                         for name in self.tiers}
        with self.client() as client:
            verify_links(client, self.links, report, quick)
            verify_speed(client, self.tiers, self.links, report, quick, real_hosts=True)
        for name, spec in self.tiers.items():
            report.add(Figure(f"cpu:{name}", spec.cpus, None, "cores", note="not applicable on real hosts"))
        return report

    def stop(self) -> None:
        """The remote servers keep running: they belong to their hosts."""
