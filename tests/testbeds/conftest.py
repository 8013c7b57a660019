"""Session finaliser: after the suite no namespace, cgroup, state or tier server of edgewise remains."""

from __future__ import annotations

import pytest

from tests.conftest import IS_ROOT
from tests.tiers.conftest import cnn_artifact, cnn_split  # noqa: F401  (shared artifact fixtures)


def leftovers() -> list[str]:
    import subprocess

    from edgewise.testbeds import cgroups, netns
    from edgewise.testbeds.linux import STATE_DIR

    found = [f"netns {n}" for n in netns.namespaces()]
    found += [f"cgroup {d}" for d in cgroups.stale_dirs()]
    if STATE_DIR.is_dir():
        found += [f"state {d}" for d in STATE_DIR.iterdir()]
    ps = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout
    import os

    mine = str(os.getpid())
    found += [line for line in ps.splitlines() if "edgewise.tiers.server" in line and line.split()[1] == mine]
    return found


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind():
    yield
    if IS_ROOT:
        assert leftovers() == [], "testbed resources outlived the suite"
