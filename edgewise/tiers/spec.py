"""Value types for tiers, links and placements.

The input is captured on the device (the client sits beside Mobile). A request travels along
the chain client -> mobile -> edge -> cloud, as the reference study relayed it, unless a direct
link between two tiers is declared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgewise.errors import PlanError
from edgewise.tiers.speed import check_speed
from edgewise.tiers.wire import FULL, HEAD, RELAY, TAIL
from edgewise.vocabulary import TIER_ORDER

CLIENT = "client"


@dataclass(frozen=True)
class TierSpec:
    """A place that runs inference: a CPU share (fractional), a memory cap, a thread count, and the
    speed of one request relative to this host (modelled in the tier server, tiers/speed.py).

    The share limits what the tier may use over time (concurrent load); the speed is how fast one
    request runs. A share at least the thread count never throttles a single request stream.
    """

    name: str
    cpus: float
    memory_mb: int
    threads: int | None = None  # default: the CPU share rounded down, at least 1
    speed: float = 1.0

    def __post_init__(self) -> None:
        check_speed(self.speed, f"tier {self.name}: speed")

    @property
    def intra_op_threads(self) -> int:
        # More threads than the quota only burns the quota on contention.
        if self.threads is not None:
            return max(1, self.threads)
        return max(1, int(self.cpus))


@dataclass(frozen=True)
class LinkSpec:
    """The network between two places, each direction on its own (a -> b is 'up')."""

    a: str
    b: str
    bandwidth_mbit: float
    delay_ms: float = 0.0
    down_bandwidth_mbit: float | None = None  # b -> a; None: same as a -> b
    down_delay_ms: float | None = None

    @property
    def name(self) -> str:
        return f"{self.a}-{self.b}"

    def rate_mbit(self, src: str) -> float:
        if src == self.a:
            return self.bandwidth_mbit
        return self.down_bandwidth_mbit if self.down_bandwidth_mbit is not None else self.bandwidth_mbit

    def delay(self, src: str) -> float:
        if src == self.a:
            return self.delay_ms
        return self.down_delay_ms if self.down_delay_ms is not None else self.delay_ms


@dataclass(frozen=True)
class Placement:
    """Where an artifact runs: one tier, or a head tier and a tail tier."""

    tiers: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> "Placement":
        parts = tuple(p.strip().lower() for p in text.split("-"))
        for p in parts:
            if p not in TIER_ORDER:
                raise PlanError(
                    f"unknown tier {p!r} in placement {text!r}",
                    f"use one of {', '.join(TIER_ORDER)} or a pair such as mobile-edge",
                )
        if len(parts) > 2:
            raise PlanError(f"placement {text!r} names {len(parts)} tiers", "a placement is one tier or a head-tail pair")
        if len(parts) == 2 and TIER_ORDER.index(parts[0]) >= TIER_ORDER.index(parts[1]):
            raise PlanError(
                f"placement {text!r} runs the tail before the head along the path",
                "name the tier nearer the device first, e.g. mobile-edge or edge-cloud",
            )
        return cls(parts)

    @property
    def name(self) -> str:
        return "-".join(self.tiers)

    @property
    def is_split(self) -> bool:
        return len(self.tiers) == 2

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Route:
    """The hops a request makes: each hop is (tier, role) with role relay|full|head|tail."""

    hops: tuple[tuple[str, str], ...]
    links: tuple[tuple[str, str], ...] = field(default=())  # (src, dst) of every transfer


def direct_links(link_names) -> set[frozenset[str]]:
    """The declared links that skip a tier (mobile-cloud): requests take them instead of relaying.

    The client sits beside Mobile, so a link from the client is never a shortcut."""
    pairs = (name.split("-") for name in link_names)
    return {frozenset((a, b)) for a, b in pairs if a != CLIENT and abs(path_position(a) - path_position(b)) > 1}


def route_for(placement: Placement, direct_links: set[frozenset[str]] | None = None) -> Route:
    """The path a request takes from the client to the placement's last tier.

    Tiers between the client and the first compute tier relay the raw payload; a tier between
    head and tail relays the cut tensors. A declared direct link skips the relays.
    """
    direct = direct_links or set()
    first, last = placement.tiers[0], placement.tiers[-1]
    path = [CLIENT, *TIER_ORDER[: TIER_ORDER.index(last) + 1]]
    # A declared direct link skips the tiers that would otherwise relay between its ends.
    for a, b in (tuple(sorted(d, key=path_position)) for d in direct):
        if a in path and b in path and (a == CLIENT or a in placement.tiers) and b in placement.tiers:
            ia, ib = path.index(a), path.index(b)
            path = path[: ia + 1] + path[ib:]
    hops = []
    for tier in path[1:]:
        if placement.is_split and tier == first:
            hops.append((tier, HEAD))
        elif placement.is_split and tier == last:
            hops.append((tier, TAIL))
        elif not placement.is_split and tier == last:
            hops.append((tier, FULL))
        else:
            hops.append((tier, RELAY))
    links = tuple(zip(path[:-1], path[1:]))
    return Route(tuple(hops), links)


def path_position(name: str) -> int:
    """Where a place stands on the path client -> mobile -> edge -> cloud."""
    return -1 if name == CLIENT else TIER_ORDER.index(name)
