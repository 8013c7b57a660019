"""Testbeds bring tiers and links to life: Linux emulation (root), a local fallback, remote hosts.

Each kind is one module with one Testbed subclass; kinds.py is the table from a study file's kind to it.
Importing this package imports no testbed (the study file's validation reads the table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgewise.testbeds.kinds import testbed_class

if TYPE_CHECKING:
    from edgewise.testbeds.base import Testbed

__all__ = ["Testbed", "cleanup_stale", "make_testbed", "testbed_class"]


def make_testbed(config) -> "Testbed":
    """The testbed a study's `testbed:` section asks for (an edgewise.config.TestbedConfig)."""
    return testbed_class(config.kind).from_config(config)


def cleanup_stale() -> list[str]:
    """Remove namespaces, cgroups, processes and state that crashed runs left behind."""
    from edgewise.testbeds.linux import cleanup_stale as linux_cleanup

    return linux_cleanup()


def __getattr__(name: str):
    if name == "Testbed":
        from edgewise.testbeds.base import Testbed

        return Testbed
    raise AttributeError(name)
