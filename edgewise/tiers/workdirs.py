"""Work folders in the system's temporary directory (models a tier server received, a local testbed's
logs), named with the pid of the process that owns them: a process killed with SIGKILL cannot remove its
own, so each new one sweeps away those whose owner is gone."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from edgewise.environment import process_alive

PREFIX = "edgewise-"
_OWNED = re.compile(rf"^{PREFIX}[A-Za-z0-9_.]+-(\d+)-")


def make(kind: str) -> Path:
    """A new folder for this process (`edgewise-KIND-PID-...`), after sweeping the dead owners' away."""
    sweep()
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-{os.getpid()}-"))


def sweep() -> list[Path]:
    """Remove the folders whose owning process no longer runs; returns them."""
    removed = []
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        match = _OWNED.match(path.name)
        if match and path.is_dir() and not process_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
