"""A study's cells under its network conditions: what is built once, and moving from one condition to the next.

Artifacts do not depend on the network, except partitions, whose cut is chosen for the links
between their head and tail: a cell is built once for all conditions unless it is a partition whose
links a condition changes (then once per such condition, the links it was cut for in its key).
Between conditions the testbed reshapes its links in place and the changed links are verified
before anything is measured under them (once per condition and study: a resume keeps the figures).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterator

from edgewise.errors import TestbedError
from edgewise.planning.conditions import Condition, links_for_partition
from edgewise.tiers.spec import LinkSpec


def links_of(config) -> list[LinkSpec]:
    return config.testbed.link_specs()


def condition_of(cell) -> Condition | None:
    return Condition.parse(cell.condition) if cell.condition else None


def links_for_cell(links: list[LinkSpec], cell) -> list[LinkSpec]:
    """The links a cell's artifact is built for: the study's, or a partition's under its condition."""
    return links_for_partition(links, condition_of(cell), cell.placement)


def build_cells(cells: list, links: list[LinkSpec]) -> list:
    """The cells to build: one per artifact, whatever the number of conditions it is measured under."""
    out, seen = [], set()
    for cell in cells:
        if cell.condition and links_for_cell(links, cell) == links:
            cell = replace(cell, condition="")  # the network does not change this artifact
        if cell.name not in seen:
            seen.add(cell.name)
            out.append(cell)
    return out


def for_every_condition(built: list, cells: list) -> list:
    """Each planned cell with the build of its artifact (`built` from build_cells' cells)."""
    by_name = {b.cell.name: b for b in built}
    out = []
    for cell in cells:
        b = by_name.get(cell.name) or by_name[replace(cell, condition="").name]
        out.append(replace(b, cell=cell))
    return out


def jobs_by_condition(group: list, jobs: list) -> Iterator[tuple[Condition | None, list]]:
    """The jobs of one subject, condition by condition in plan order (one batch, None, without conditions)."""
    condition_by_cell = {b.cell.name: b.cell.condition for b in group}
    order = list(dict.fromkeys(condition_by_cell[j.name] for j in jobs))
    for name in order:
        yield (Condition.parse(name) if name else None), [j for j in jobs if condition_by_cell[j.name] == name]


def enter_condition(condition: Condition, config, store, testbed, client, log: Callable[[str], None]) -> None:
    """Reshape the testbed's links to `condition` (in place); the first time, verify the links it changes.
    Conditions take turns pass by pass (measure/latency.py), so this runs many times a study."""
    links = condition.apply(links_of(config))
    testbed.reshape(links, client)
    if not config.testbed.verify or condition.name in store.condition_emulation():
        return
    log(f"network condition {condition.name}: verifying the reshaped links")
    changed = [link for link in links if condition.setting(link.name) is not None]
    report = testbed.verify_links(changed)
    store.set_condition_emulation(condition.name, report.to_dict())
    failures = report.failures(config.testbed.tolerance)
    if failures:
        raise TestbedError(f"under condition {condition.name} the testbed does not emulate what the study asks: "
                           + "; ".join(failures),
                           "fix the host (kernel modules, load), raise testbed.tolerance or drop the condition")

