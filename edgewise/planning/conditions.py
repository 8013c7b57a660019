"""Network conditions: the settings of named links a study measures every cell under.

The study file names a grid per link, or a list of grids:

    conditions: {edge-cloud: {bandwidth_mbit: [1, 5, 20, 100], delay_ms: [0, 25]}}
    conditions: [{edge-cloud: {bandwidth_mbit: 5}}, {edge-cloud: {bandwidth_mbit: 50, delay_ms: 10}}]

A condition's name states what it sets, link by link (`edge-cloud=5mbit,25ms`; several links
joined by `~`), and a cell measured under it is named `SUBJECT:CHAIN@PLACEMENT~CONDITION`.
A study without conditions has none, and its cells keep their names.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace

from edgewise.errors import ConfigError
from edgewise.testbeds.kinds import testbed_class
from edgewise.tiers.spec import LinkSpec, Placement, route_for

_SETTING = re.compile(r"^(?P<link>[a-z]+-[a-z]+)=(?P<values>[0-9.a-z,]+)$")


@dataclass(frozen=True)
class LinkSetting:
    """What one condition sets on one link (both directions); None: the testbed's own value."""

    link: str
    bandwidth_mbit: float | None = None
    delay_ms: float | None = None

    @property
    def text(self) -> str:
        parts = ([] if self.bandwidth_mbit is None else [f"{self.bandwidth_mbit:g}mbit"]) + \
                ([] if self.delay_ms is None else [f"{self.delay_ms:g}ms"])
        return f"{self.link}={','.join(parts)}"


@dataclass(frozen=True)
class Condition:
    settings: tuple[LinkSetting, ...]

    @property
    def name(self) -> str:
        return "~".join(s.text for s in self.settings)

    def __str__(self) -> str:
        return self.name

    def setting(self, link: str) -> LinkSetting | None:
        return next((s for s in self.settings if s.link == link), None)

    def apply(self, links: list[LinkSpec], only: set[str] | None = None) -> list[LinkSpec]:
        """The links under this condition (only the links named in `only`, when given), in the same order."""
        out = []
        for link in links:
            s = self.setting(link.name)
            if s is None or (only is not None and link.name not in only):
                out.append(link)
                continue
            changes: dict[str, float | None] = {}
            if s.bandwidth_mbit is not None:
                changes.update(bandwidth_mbit=s.bandwidth_mbit, down_bandwidth_mbit=None)
            if s.delay_ms is not None:
                changes.update(delay_ms=s.delay_ms, down_delay_ms=None)
            out.append(replace(link, **changes))
        return out

    def to_dict(self) -> dict:
        return {"name": self.name, "links": {s.link: {"bandwidth_mbit": s.bandwidth_mbit, "delay_ms": s.delay_ms}
                                             for s in self.settings}}

    @classmethod
    def parse(cls, name: str) -> "Condition":
        settings = []
        for part in name.split("~"):
            m = _SETTING.match(part.strip())
            if not m:
                raise ConfigError(f"condition {name!r}: {part!r} is not LINK=RATEmbit[,DELAYms]",
                                  "e.g. edge-cloud=5mbit,25ms")
            bandwidth = delay = None
            for value in m["values"].split(","):
                try:
                    if value.endswith("mbit"):
                        bandwidth = float(value[:-4])
                    elif value.endswith("ms"):
                        delay = float(value[:-2])
                    else:
                        raise ValueError(value)
                except ValueError:
                    raise ConfigError(f"condition {name!r}: {value!r} is neither RATEmbit nor DELAYms",
                                      "e.g. edge-cloud=5mbit,25ms") from None
            settings.append(LinkSetting(m["link"], bandwidth, delay))
        return cls(tuple(settings))


def study_conditions(config) -> list[Condition]:
    """Every condition of a study (an edgewise.config.StudyConfig), in grid order; [] when it has none."""
    if config.conditions is None:
        return []
    if not testbed_class(config.testbed.kind).can_reshape:
        raise ConfigError(f"conditions need a testbed that can reshape its links; a {config.testbed.kind} testbed's "
                          "links are real", "remove 'conditions', or use testbed.kind linux or local")
    known = [link.name for link in config.testbed.link_specs()]
    grids = config.conditions if isinstance(config.conditions, list) else [config.conditions]
    out: list[Condition] = []
    for grid in grids:
        if not grid:
            raise ConfigError("an empty mapping among the conditions",
                              "name a link, e.g. {edge-cloud: {bandwidth_mbit: 5}}")
        axes = []
        for link, values in grid.items():
            if link not in known:
                raise ConfigError(f"conditions name the link {link!r}, which the testbed does not have",
                                  f"use one of {', '.join(known)}")
            bandwidths = _values(values.bandwidth_mbit)
            delays = _values(values.delay_ms)
            axes.append([LinkSetting(link, b, d) for b in bandwidths for d in delays])
        for combo in itertools.product(*axes):
            condition = Condition(tuple(sorted(combo, key=lambda s: known.index(s.link))))
            if condition not in out:
                out.append(condition)
    return out


def _values(value: float | list[float] | None) -> list[float | None]:
    if value is None:
        return [None]
    return list(dict.fromkeys(value)) if isinstance(value, list) else [value]


def links_for_partition(links: list[LinkSpec], condition: Condition | None, placement: Placement) -> list[LinkSpec]:
    """The links a partition of `placement` is cut for under `condition`: the condition applies to the
    links between its head and tail tiers only, so a cut (and its cache key) changes only when they do."""
    if condition is None or not placement.is_split:
        return links
    direct = {frozenset((link.a, link.b)) for link in links}
    route = route_for(placement, direct)
    head = placement.tiers[0]
    srcs = [src for src, _ in route.links]
    hops = route.links[srcs.index(head):] if head in srcs else ()
    on_route = {link.name for link in links for a, b in hops if {link.a, link.b} == {a, b}}
    return condition.apply(links, only=on_route)
