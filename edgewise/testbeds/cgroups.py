"""CPU and memory caps per tier with cgroups (v1 cpu + memory controllers, or the v2 unified tree)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from edgewise.errors import TestbedError

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 10_000  # a short CFS period keeps a fractional share smooth at millisecond latencies
PREFIX = "edgewise-"
# A tier's cgroup weighs as much as a hundred ordinary processes (v1 cpu.shares, v2 cpu.weight, its
# maximum): other work on the host then takes little of a tier's time while it computes (a cgroup of
# default weight competes like one process against all the host's others), and the quota still caps
# what the tier may use, so the weight cannot take more than the tier's share from the host.
SHARES_V1, WEIGHT_V2 = 102400, 10000


def is_v2() -> bool:
    return (ROOT / "cgroup.controllers").is_file()


class TierCgroup:
    """The cgroup(s) of one tier server: CFS quota = cpus x period, a high CPU weight, memory cap, OOM accounting."""

    def __init__(self, name: str):
        if not name.startswith(PREFIX):
            raise ValueError(f"cgroup names carry the prefix {PREFIX!r}")
        self.name = name
        self.v2 = is_v2()
        self.dirs = [ROOT / name] if self.v2 else [ROOT / "cpu" / name, ROOT / "memory" / name]

    def create(self, cpus: float, memory_mb: int) -> None:
        try:
            for d in self.dirs:
                d.mkdir(exist_ok=True)
            quota = max(1000, int(round(cpus * PERIOD_US)))
            limit = int(memory_mb) * 2**20
            if self.v2:
                _write(self.dirs[0] / "cpu.max", f"{quota} {PERIOD_US}")
                _write(self.dirs[0] / "cpu.weight", str(WEIGHT_V2))
                _write(self.dirs[0] / "memory.max", str(limit))
                if (self.dirs[0] / "memory.swap.max").exists():
                    _write(self.dirs[0] / "memory.swap.max", "0")
            else:
                cpu, mem = self.dirs
                _write(cpu / "cpu.cfs_period_us", str(PERIOD_US))
                _write(cpu / "cpu.cfs_quota_us", str(quota))
                _write(cpu / "cpu.shares", str(SHARES_V1))
                _write(mem / "memory.limit_in_bytes", str(limit))
                if (mem / "memory.memsw.limit_in_bytes").exists():  # no escape into swap
                    _write(mem / "memory.memsw.limit_in_bytes", str(limit))
        except OSError as exc:
            raise TestbedError(f"cannot set up cgroup {self.name}: {exc}",
                               "run as root on a host with the cpu and memory cgroup controllers") from None

    def join(self, pid: int | None = None) -> None:
        """Move `pid` (default: the calling process, e.g. from a child's preexec) into this cgroup."""
        for d in self.dirs:
            join(d, pid)

    def oom_kills(self) -> int:
        """How many times the kernel killed a process here for exceeding the memory cap."""
        if self.v2:
            return _field(self.dirs[0] / "memory.events", "oom_kill")
        mem = self.dirs[1]
        kills = _field(mem / "memory.oom_control", "oom_kill")
        return kills

    def limits(self) -> dict[str, float]:
        """The caps the kernel actually holds (cpus as a share, memory in MiB)."""
        if self.v2:
            quota, period = (self.dirs[0] / "cpu.max").read_text().split()
            mem = (self.dirs[0] / "memory.max").read_text().strip()
            return {"cpus": int(quota) / int(period), "memory_mb": int(mem) / 2**20}
        cpu, memd = self.dirs
        quota = int((cpu / "cpu.cfs_quota_us").read_text())
        period = int((cpu / "cpu.cfs_period_us").read_text())
        return {"cpus": quota / period, "memory_mb": int((memd / "memory.limit_in_bytes").read_text()) / 2**20}

    def pids(self) -> list[int]:
        out: set[int] = set()
        for d in self.dirs:
            try:
                out.update(int(p) for p in (d / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return sorted(out)

    def remove(self) -> None:
        for d in self.dirs:
            remove_dir(d)


def weighted_group(name: str) -> Path:
    """A CPU cgroup with no quota and a tier's weight (made if missing): what runs in it competes with the
    host's other work as a tier does. Raises OSError where this process may not make one."""
    if not name.startswith(PREFIX):
        raise ValueError(f"cgroup names carry the prefix {PREFIX!r}")
    group = (ROOT if is_v2() else ROOT / "cpu") / name
    group.mkdir(exist_ok=True)
    _write(group / ("cpu.weight" if is_v2() else "cpu.shares"), str(WEIGHT_V2 if is_v2() else SHARES_V1))
    return group


def join(group: Path, pid: int | None = None) -> None:
    """Move `pid` (default: the calling process, e.g. from a child's preexec) into the cgroup directory `group`."""
    _write(group / "cgroup.procs", str(pid or os.getpid()))


@contextmanager
def weighted_here(name: str) -> Iterator[None]:
    """Run the calling process, for the block, in a weighted_group of its own.

    Verification compares each tier against this host: the reference runs here, and on a busy host it
    would otherwise compete at an ordinary weight with tiers that do not.
    """
    parent = ROOT if is_v2() else ROOT / "cpu"
    home = parent / _own_cpu_path().lstrip("/")
    try:
        group = weighted_group(name)
        join(group)
    except OSError:
        yield  # not allowed here: the reference runs at an ordinary weight
        return
    try:
        yield
    finally:
        try:
            join(home)
        except OSError:
            join(parent)
        remove_dir(group)


def _own_cpu_path() -> str:
    """This process's cgroup in the hierarchy that holds the cpu controller."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (is_v2() and controllers == "") or (not is_v2() and "cpu" in controllers.split(",")):
            return path
    return "/"


def remove_dir(d: Path) -> None:
    """Remove a cgroup directory (only empty ones can go; callers kill the processes first)."""
    for child in sorted((p for p in d.glob("*") if p.is_dir()), reverse=True):
        remove_dir(child)
    try:
        d.rmdir()
    except OSError:
        pass


def stale_dirs() -> list[Path]:
    """Every cgroup directory with the edgewise prefix, in either hierarchy."""
    parents = [ROOT] if is_v2() else [ROOT / "cpu", ROOT / "memory"]
    return [d for p in parents if p.is_dir() for d in p.glob(PREFIX + "*") if d.is_dir()]


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _field(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0
