"""The local fallback testbed (no root): tier servers on loopback, links modelled in the wire layer.

CPU is bounded by thread count and core affinity (os.sched_setaffinity on ceil(cpus) cores), so a
fractional share such as 0.5 cannot be expressed: the tier gets a whole core. Memory is not capped.
Each link direction is modelled by its sender: the one-way delay, then a token bucket at the rate.
Connection set-up and TCP slow start are not modelled (connections are persistent and warm).
Every figure this testbed reports is labelled modelled.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

from edgewise.errors import TestbedError
from edgewise.testbeds.base import Testbed
from edgewise.testbeds.emulation import EmulationReport, Figure
from edgewise.testbeds.processes import TierProcess
from edgewise.testbeds.verify import SPEED_MODELLED, verify_links, verify_speed
from edgewise.tiers import workdirs
from edgewise.tiers.admission import DEFAULT_QUEUE_DEPTH
from edgewise.tiers.client import TierClient, TierDown
from edgewise.tiers.shaping import LinkShape
from edgewise.tiers.spec import CLIENT, LinkSpec, TierSpec


class LocalTestbed(Testbed):
    kind = "local"

    @classmethod
    def from_config(cls, config) -> "LocalTestbed":
        return cls(token=config.token, queue_depth=config.queue_depth)
    modelled = True

    def __init__(self, token: str | None = None, queue_depth: int = DEFAULT_QUEUE_DEPTH):
        self.token = token
        self.queue_depth = queue_depth
        self.tiers: dict[str, TierSpec] = {}
        self.links: list[LinkSpec] = []
        self.procs: dict[str, TierProcess] = {}
        self.ports: dict[str, int] = {}
        self.cores: dict[str, set[int]] = {}
        self._dir: Path | None = None

    def start(self, tiers: dict[str, TierSpec], links: list[LinkSpec]) -> None:
        self.tiers, self.links = dict(tiers), list(links)
        self._dir = workdirs.make("local")
        available = sorted(os.sched_getaffinity(0))
        for name, spec in tiers.items():
            self.cores[name] = set(available[: max(1, min(len(available), math.ceil(spec.cpus)))])
        try:
            self.board = self.start_probe(self._dir)
            # Tiers are started from the far end so each knows its peers' ports at spawn.
            for name in reversed(list(tiers)):
                self._spawn(name)
        except BaseException:
            self.stop()
            raise

    def _shapes(self, place: str) -> dict[str, LinkShape]:
        out = {}
        for link in self.links:
            if place in (link.a, link.b):
                other = link.b if place == link.a else link.a
                out[other] = LinkShape(delay_s=link.delay(place) / 1e3, rate_mbit=link.rate_mbit(place))
        return out

    def _neighbours(self, tier: str) -> list[str]:
        return [link.b if link.a == tier else link.a for link in self.links if tier in (link.a, link.b)]

    def _spawn(self, tier: str) -> None:
        assert self._dir is not None
        peers = {t: f"127.0.0.1:{self.ports[t]}" for t in self._neighbours(tier) if t in self.ports}
        cores = self.cores[tier]
        port = self.ports.get(tier, 0)  # a restart keeps the port its neighbours know
        proc = TierProcess(tier, f"127.0.0.1:{port}", self._dir / f"{tier}.log", token=self.token,
                           threads=self.tiers[tier].intra_op_threads, speed=self.tiers[tier].speed,
                           host_board=self.board,
                           queue_depth=self.queue_depth, peers=peers, shapes=self._shapes(tier),
                           setup=lambda: os.sched_setaffinity(0, cores))
        address = proc.start()
        self.ports[tier] = int(address.rsplit(":", 1)[1])
        self.procs[tier] = proc

    def endpoint(self, tier: str) -> str:
        if tier not in self.ports:
            raise TestbedError(f"tier {tier!r} is not running", f"running: {', '.join(self.ports)}")
        return f"127.0.0.1:{self.ports[tier]}"

    def client(self, timeout_s: float = 120.0) -> TierClient:
        return TierClient({t: self.endpoint(t) for t in self.tiers}, self.token, timeout_s,
                          shapes=self._shapes(CLIENT), diagnose=lambda tier, detail: TierDown(tier, detail))

    def tier_client(self, timeout_s: float = 120.0) -> TierClient:
        return TierClient({t: self.endpoint(t) for t in self.tiers}, self.token, timeout_s,
                          diagnose=lambda tier, detail: TierDown(tier, detail))

    def reshape(self, links: list[LinkSpec], client: TierClient) -> None:
        """New modelled links: every tier and the client take their new shapes (tiers/reshape.py)."""
        self.links = list(links)  # a tier restarted later starts with these
        for tier in self.procs:
            client.reshape(tier, self._shapes(tier))
        client.reshape_own(self._shapes(CLIENT))

    def restart(self, tier: str) -> None:
        if tier in self.procs:
            self.procs[tier].kill()
        self._spawn(tier)

    def verify(self, quick: bool = False) -> EmulationReport:
        report = EmulationReport(self.kind, self.modelled)
        report.notes.append("links modelled in the wire layer (delay + token bucket); not emulated by the kernel")
        report.notes.append("CPU bounded by core affinity: fractional shares are rounded up to whole cores")
        report.notes.append("speed: modelled per request (each compute step held until its CPU time / speed)")
        if idle := self.idle_states():
            report.notes.append(idle)
        report.labels = {name: {"speed": SPEED_MODELLED,
                                "share": f"not emulated (core affinity: {len(self.cores[name])} whole core(s))",
                                "memory": "not capped", "links": "modelled (delay and token bucket in the wire layer)"}
                         for name in self.tiers}
        with self.client() as client:
            verify_links(client, self.links, report, quick)
        with self.tier_client() as client:
            verify_speed(client, self.tiers, report, quick, self.host_nominal())
        for name, spec in self.tiers.items():
            report.add(Figure(f"cpu:{name}", spec.cpus, None, "cores",
                              note=f"not emulated: affinity gives {len(self.cores[name])} whole core(s)"))
        return report

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.kill()
        self.procs.clear()
        self.stop_probe()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
