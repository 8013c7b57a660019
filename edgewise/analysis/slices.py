"""A study's results one network condition at a time, for the commands that answer per condition."""

from __future__ import annotations

from edgewise.analysis.results import ResultSet
from edgewise.errors import DataError


def by_condition(rs: ResultSet, condition: str | None = None) -> list[tuple[str, ResultSet]]:
    """[(condition, its cells)]: the one asked for, else every condition in turn; [("", rs)] without conditions."""
    if condition is not None:
        if not rs.conditions:
            raise DataError(f"--condition {condition!r}: these results were measured under one network setting",
                            "drop --condition")
        return [(condition, rs.at_condition(condition))]
    if not rs.conditions:
        return [("", rs)]
    return [(name, rs.at_condition(name)) for name in rs.conditions]
