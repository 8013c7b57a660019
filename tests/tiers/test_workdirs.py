"""A tier server killed with SIGKILL cannot remove the folder it wrote received models to: the next
one to start sweeps it away, and leaves the folders of live servers alone."""

from __future__ import annotations

import signal
import sys
import tempfile
from pathlib import Path

from edgewise.testbeds.processes import ChildProcess
from edgewise.tiers import workdirs
from edgewise.tiers.client import TierClient
from edgewise.tiers.reference import workload_path


def folders_of(pid: int) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"{workdirs.PREFIX}*-{pid}-*"))


def test_a_killed_servers_folder_is_swept_by_the_next(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    # As `edgewise serve` runs it: no --workdir, a folder of its own.
    first = ChildProcess("edge", [sys.executable, "-m", "edgewise.tiers.server", "--tier", "edge"],
                         tmp_path / "first.log")
    address = first.spawn().split()[2]
    with TierClient({"edge": address}, ship_models=True) as client:
        client.load("edge", "w", workload_path("0.3ms"), "full", None)  # the bytes travel: written to its folder
    assert len(folders_of(first.pid)) == 1
    first.proc.send_signal(signal.SIGKILL)
    first.exit_code(wait_s=5.0)
    assert folders_of(first.pid)  # nobody removed it yet
    alive = workdirs.make("test")  # this process is alive: its folder stays
    try:
        assert not folders_of(first.pid) and alive.is_dir()
    finally:
        alive.rmdir()
