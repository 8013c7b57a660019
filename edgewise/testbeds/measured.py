"""Real hosts, measured: what a remote testbed's links and tiers are, as opposed to what was asked of them.

On real hosts nothing is emulated, so nothing is compared with a request. Each link a placement
uses is measured from its sending end (RTT and its jitter over the echoes, then goodput each way
with a transfer sized from a first small one to last ~0.5 s), and each tier's speed is this client
host's nominal time for a fixed single-threaded ONNX workload (testbeds/nominal.py) divided by the
tier's compute time for it, as the tier serves it (its own threads). The figures gate a study only against the bounds
the user states (`testbed.expect`), and become the links and tier speeds the automatic partition
cut is chosen for (rounded, so that the same network gives the same artifact key).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from edgewise.testbeds.emulation import EmulationReport, Figure
from edgewise.tiers.client import TierClient
from edgewise.tiers.spec import TIER_ORDER, LinkSpec, Placement, TierSpec, path_position, route_for

NETWORK_HINT = ("check the network between those hosts (route, VPN or tunnel, competing traffic, Wi-Fi), "
                "or widen testbed.expect to what this network is")
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
    """Tiers as fast as measured, relative to this client. A device faster than one core here is
    described by cores rather than by a speed above 1 (which no emulated tier can have)."""
    out = dict(tiers)
    for name, speed in measured_speeds(report).items():
        if name in tiers:
            speed = _sig2(speed)
            cores = max(1, math.ceil(speed))
            out[name] = TierSpec(name, float(cores), tiers[name].memory_mb, cores, min(1.0, speed / cores))
    return out


def measured_speeds(report: EmulationReport | dict[str, Any]) -> dict[str, float]:
    """Each tier's speed: the inverse of the geometric mean of its slowdowns over the fixed workloads."""
    slowdowns: dict[str, list[float]] = {}
    for name, value in _figures(report).items():
        kind, _, rest = name.partition(":")
        if kind == "speed" and value:
            slowdowns.setdefault(rest.partition(":")[0], []).append(value)
    return {tier: 1.0 / statistics.geometric_mean(values) for tier, values in slowdowns.items()}


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
    for tier, speed in measured_speeds(report).items():
        tiers.setdefault(tier, {})["speed"] = speed
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

