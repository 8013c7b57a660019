"""Testbeds bring tiers and links to life: Linux emulation (root), a local fallback, remote hosts."""

from __future__ import annotations

from edgewise.testbeds.base import Testbed
from edgewise.testbeds.emulation import EmulationReport, Figure
from edgewise.testbeds.linux import LinuxTestbed
from edgewise.testbeds.linux import cleanup_stale as linux_cleanup
from edgewise.testbeds.local import LocalTestbed
from edgewise.testbeds.remote import RemoteTestbed

__all__ = ["EmulationReport", "Figure", "Testbed", "cleanup_stale", "make_testbed"]


def make_testbed(config) -> Testbed:
    """The testbed a study's `testbed:` section asks for (an edgewise.config.TestbedConfig)."""
    if config.kind == "linux":
        return LinuxTestbed(token=config.token, queue_depth=config.queue_depth)
    if config.kind == "local":
        return LocalTestbed(token=config.token, queue_depth=config.queue_depth)
    return RemoteTestbed(config.endpoints, config.token)


def cleanup_stale() -> list[str]:
    """Remove namespaces, cgroups, processes and state that crashed runs left behind."""
    return linux_cleanup()
