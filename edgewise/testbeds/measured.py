"""Real hosts, measured: what a remote testbed's links and tiers are, as opposed to what was asked of them.

On real hosts nothing is emulated, so nothing is compared with a request. Each link a placement
uses is measured from its sending end (RTT and its jitter over the echoes, then goodput each way
with a transfer sized from a first small one to last ~0.5 s), and each tier's speed is the time
this client takes for a fixed single-threaded ONNX workload divided by the tier's compute time
for it, as the tier serves it (its own threads). The figures gate a study only against the bounds
the user states (`testbed.expect`), and become the links and tier speeds the automatic partition
cut is chosen for (rounded, so that the same network gives the same artifact key).
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgewise.testbeds.base import EmulationReport, Figure
from edgewise.tiers.client import TierClient
from edgewise.tiers.spec import CLIENT, TIER_ORDER, LinkSpec, Placement, TierSpec, path_position, route_for
from edgewise.tiers.wire import Frame

NETWORK_HINT = ("check the network between those hosts (route, VPN or tunnel, competing traffic, Wi-Fi), "
                "or widen testbed.expect to what this network is")
SPEED_PROBE_ID = "edgewise-speed-probe"
_FIRST_TRANSFER = 64 * 1024


def route_links(placements: list[Placement], direct: set[frozenset[str]]) -> list[tuple[str, str]]:
    """The (a, b) links the placements' requests travel, a nearer the client, in path order."""
    seen: dict[tuple[str, str], None] = {}
    for placement in placements:
        for src, dst in route_for(placement, direct).links:
            seen[_ordered(src, dst)] = None
    return sorted(seen, key=lambda ab: (path_position(ab[0]), path_position(ab[1])))


def topology(links: list[tuple[str, str]]) -> list[LinkSpec]:
    """The links to measure, as LinkSpecs whose rate is unknown (0) until measured."""
    return [LinkSpec(a, b, 0.0) for a, b in links]


def route_tiers(links: list[tuple[str, str]]) -> list[str]:
    return [t for t in TIER_ORDER if any(t in ab for ab in links)]


def measure_links(client: TierClient, links: list[tuple[str, str]], report: EmulationReport, quick: bool) -> None:
    count = 10 if quick else 30
    for a, b in links:
        name = f"{a}-{b}"
        first = client.probe(a, b, _FIRST_TRANSFER, count=3)
        rate = min(first["up_mbit"], first["down_mbit"])
        nbytes = transfer_bytes(rate, quick)
        figures = client.probe(a, b, nbytes, count=count)
        report.add(Figure(f"rtt:{name}", None, figures["rtt_ms"], "ms", gates=False,
                          note=f"median of {count}; min {figures['rtt_min_ms']:.2f} max {figures['rtt_max_ms']:.2f}"))
        report.add(Figure(f"jitter:{name}", None, figures.get("jitter_ms"), "ms", gates=False,
                          note="mean difference between consecutive round trips"))
        for direction in ("up", "down"):
            report.add(Figure(f"bandwidth:{name}:{direction}", None, figures[f"{direction}_mbit"], "Mbit/s",
                              gates=False, note=f"goodput of {nbytes} bytes, median of 3"))


def transfer_bytes(rate_mbit: float, quick: bool) -> int:
    """What the link carries in ~0.5 s (0.2 s when quick), between 64 KB and 8 MB (2 MB when quick)."""
    seconds, cap = (0.2, 2_000_000) if quick else (0.5, 8_000_000)
    return int(min(cap, max(_FIRST_TRANSFER, rate_mbit * 1e6 / 8 * seconds)))


def measure_speeds(client: TierClient, tiers: list[str], report: EmulationReport, quick: bool) -> None:
    """Each tier's speed on a fixed ONNX workload, relative to this client on one thread."""
    from edgewise.runtime import make_session
    from edgewise.testbeds.workloads import _matmul_model

    runs = 10 if quick else 30
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speed-probe.onnx"
        _matmul_model(path)
        session = make_session(path, threads=1)
        name = session.get_inputs()[0].name
        feeds = {name: np.ones([d if isinstance(d, int) else 1 for d in session.get_inputs()[0].shape], np.float32)}
        session.run(None, feeds)
        local = []
        for _ in range(runs):
            t0 = time.perf_counter()
            session.run(None, feeds)
            local.append(time.perf_counter() - t0)
        here = statistics.median(local)
        for tier in tiers:
            client.load(tier, SPEED_PROBE_ID, path, "full", None)
            try:
                served = [_served_compute_s(client, tier, feeds) for _ in range(runs + 1)][1:]
            finally:
                client.unload(tier, SPEED_PROBE_ID)
            there = statistics.median(served)
            threads = (report.hosts.get(tier) or {}).get("threads")
            report.add(Figure(f"speed:{tier}", None, here / there if there > 0 else None, "x client", gates=False,
                              note=f"fixed ONNX workload: {here * 1e3:.2f} ms here on 1 thread, "
                                   f"{there * 1e3:.2f} ms on the tier ({threads or '?'} thread(s))"))


def _served_compute_s(client: TierClient, tier: str, feeds: dict[str, np.ndarray]) -> float:
    frame = Frame("INFER", {"artifact": SPEED_PROBE_ID, "hop": 0, "route": [[tier, "full"]],
                            "links": [[CLIENT, tier]]}, dict(feeds))
    return float(client.request(tier, frame).meta["hops"][0]["compute_s"])


def describe_hosts(client: TierClient, tiers: list[str], report: EmulationReport) -> None:
    for tier in tiers:
        report.hosts[tier] = client.ping(tier).get("host") or {}
        cap = report.hosts[tier].get("memory_cap") or {}
        if cap.get("memory_mb"):
            report.add(Figure(f"memory:{tier}", float(cap["memory_mb"]), None, "MiB", gates=False,
                              note=("enforced: " if cap.get("enforced") else "") + str(cap.get("how", ""))))


def expectation_failures(report: EmulationReport | dict[str, Any], expect: dict[str, Any]) -> list[str]:
    """One line per measured figure outside the bounds the study states (`testbed.expect`)."""
    figures = _figures(report)
    out = []
    for link, bounds in expect.items():
        checks = [("bandwidth_mbit", [f"bandwidth:{link}:up", f"bandwidth:{link}:down"], "Mbit/s"),
                  ("rtt_ms", [f"rtt:{link}"], "ms"), ("jitter_ms", [f"jitter:{link}"], "ms")]
        for field, names, unit in checks:
            span = getattr(bounds, field, None) if not isinstance(bounds, dict) else bounds.get(field)
            if span is None:
                continue
            low, high = span
            for name in names:
                value = figures.get(name)
                if value is None:
                    out.append(f"{name}: not measured (no placement of the study uses link {link})")
                elif not low <= value <= high:
                    out.append(f"{name}: measured {value:.3g} {unit}, expected {low:g} to {high:g} {unit}")
    return out


def measured_link_specs(report: EmulationReport | dict[str, Any]) -> list[LinkSpec]:
    """The measured links as LinkSpecs for the build: 2 significant figures, one-way delay = RTT / 2
    to 0.1 ms, so that the same network gives the same partition key while another network does not."""
    figures = _figures(report)
    links = []
    for name in figures:
        if not name.startswith("rtt:"):
            continue
        link = name[4:]
        a, b = link.split("-")
        up, down = figures.get(f"bandwidth:{link}:up"), figures.get(f"bandwidth:{link}:down")
        if not up or not down:
            continue
        delay = round(figures[name] / 2, 1)
        links.append(LinkSpec(a, b, _sig2(up), delay, _sig2(down), delay))
    return links


def measured_tier_specs(report: EmulationReport | dict[str, Any], tiers: dict[str, TierSpec]) -> dict[str, TierSpec]:
    """Tiers as fast as measured, relative to this client (partition's cost model scales by the share)."""
    figures = _figures(report)
    out = dict(tiers)
    for name, spec in tiers.items():
        speed = figures.get(f"speed:{name}")
        if speed:
            speed = _sig2(speed)
            out[name] = TierSpec(name, speed, spec.memory_mb, max(1, math.ceil(speed)))
    return out


def measured_summary(report: EmulationReport | dict[str, Any]) -> dict[str, Any]:
    """results.json's testbed on real hosts: each measured link and tier, and each host's description."""
    figures = _figures(report)
    links: dict[str, dict[str, float | None]] = {}
    tiers: dict[str, dict[str, Any]] = {}
    for name, value in figures.items():
        kind, _, rest = name.partition(":")
        if kind in ("rtt", "jitter"):
            links.setdefault(rest, {})[f"{kind}_ms"] = value
        elif kind == "bandwidth":
            link, _, direction = rest.partition(":")
            links.setdefault(link, {})["bandwidth_mbit" if direction == "up" else "down_bandwidth_mbit"] = value
        elif kind == "speed":
            tiers.setdefault(rest, {})["speed"] = value
    hosts = report.hosts if isinstance(report, EmulationReport) else report.get("hosts") or {}
    for tier, host in hosts.items():
        tiers.setdefault(tier, {})["host"] = host
    return {"measured": True, "links": links, "tiers": tiers}


def _figures(report: EmulationReport | dict[str, Any]) -> dict[str, float | None]:
    if isinstance(report, EmulationReport):
        return {f.name: f.achieved for f in report.figures}
    return {f["name"]: f.get("achieved") for f in report.get("figures", [])}


def _sig2(value: float) -> float:
    return float(f"{value:.2g}")


def _ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if path_position(a) < path_position(b) else (b, a)

