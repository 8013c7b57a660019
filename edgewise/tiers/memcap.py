"""`edgewise serve --memory-mb`: a memory cap on the server process, enforced by a cgroup where it may be.

Where the process is root and the host has the cgroup memory controller (v1 `memory/` or the v2
unified tree), the server moves itself into a cgroup of its own with the cap (swap included where
the kernel accounts it): a model that does not fit gets the server killed by the kernel, as on the
emulated tiers. Anywhere else the cap is not enforced, and the PING description and the report say
so rather than pretend.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgewise.testbeds import cgroups


@dataclass
class MemoryCap:
    memory_mb: int | None
    enforced: bool
    how: str
    dirs: list[Path] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"memory_mb": self.memory_mb, "enforced": self.enforced, "how": self.how}

    def release(self) -> None:
        """Leave the cgroup and remove it (a process cannot remove the cgroup it is in)."""
        for d in self.dirs:
            try:
                _write(d.parent / "cgroup.procs", str(os.getpid()))
            except OSError:
                pass
            cgroups.remove_dir(d)
        self.dirs = []


def apply_memory_cap(tier: str, memory_mb: int | None) -> MemoryCap:
    """Cap this process at `memory_mb` MiB when the host lets it; say how, or why not."""
    if not memory_mb:
        return MemoryCap(None, False, "no cap asked")
    if os.geteuid() != 0:
        return MemoryCap(memory_mb, False, "not enforced: needs root for a cgroup "
                                            "(or cap the process with systemd-run -p MemoryMax= or a container)")
    v2 = cgroups.is_v2()
    parent = cgroups.ROOT if v2 else cgroups.ROOT / "memory"
    limit_file = "memory.max" if v2 else "memory.limit_in_bytes"
    if not (parent / ("cgroup.controllers" if v2 else "memory.limit_in_bytes")).exists():
        return MemoryCap(memory_mb, False, "not enforced: no cgroup memory controller on this host")
    d = parent / f"{cgroups.PREFIX}serve-{tier}-{os.getpid()}"
    try:
        d.mkdir(exist_ok=True)
        limit = str(int(memory_mb) * 2**20)
        _write(d / limit_file, limit)
        swap = d / ("memory.swap.max" if v2 else "memory.memsw.limit_in_bytes")
        if swap.exists():  # no escape into swap
            _write(swap, "0" if v2 else limit)
        _write(d / "cgroup.procs", str(os.getpid()))
    except OSError as exc:
        cgroups.remove_dir(d)
        return MemoryCap(memory_mb, False, f"not enforced: cannot set up cgroup {d.name}: {exc}")
    version = "v2" if v2 else "v1"
    return MemoryCap(memory_mb, True, f"cgroup {version} {d.name}", [d])


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)
