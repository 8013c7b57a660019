"""The one table from a study file's `testbed.kind` to the class that brings it to life.

The built-in kinds are listed here; a package of its own adds a kind by declaring its module in the
`edgewise.testbeds` entry-point group (`my-kind = "my_package.my_testbed"`): importing the module
registers its Testbed subclass under its `kind` (testbeds/base.py). The table names modules, not
classes, so that reading a study file imports no testbed.
"""

from __future__ import annotations

from importlib import import_module, metadata

from edgewise.errors import ConfigError

BUILTIN: dict[str, str] = {"linux": "edgewise.testbeds.linux", "local": "edgewise.testbeds.local",
                           "remote": "edgewise.testbeds.remote"}
ENTRY_POINTS = "edgewise.testbeds"
KINDS: dict[str, type] = {}  # kind -> its Testbed subclass, which registers itself (testbeds/base.py)


def modules() -> dict[str, str]:
    """Every kind this installation knows, with the module that registers it (a subclass already imported
    registers itself: it needs no entry)."""
    found = dict(BUILTIN)
    for entry in metadata.entry_points(group=ENTRY_POINTS):
        found.setdefault(entry.name, entry.value)
    for kind, cls in KINDS.items():
        found.setdefault(kind, cls.__module__)
    return found


def testbed_class(kind: str) -> type:
    """The Testbed subclass of `kind` (its module imported on first use)."""
    if kind in KINDS:
        return KINDS[kind]
    known = modules()
    if kind not in known:
        raise ConfigError(f"unknown testbed kind {kind!r}",
                          f"use one of {', '.join(known)}, or install the package that provides it")
    if kind not in KINDS:
        import_module(known[kind].split(":")[0])
    if kind not in KINDS:
        raise ConfigError(f"module {known[kind]} does not define a testbed of kind {kind!r}",
                          "give its Testbed subclass `kind = ...` as the entry point names it")
    return KINDS[kind]
