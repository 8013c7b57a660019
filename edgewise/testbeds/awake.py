"""This host's cores kept out of their idle states while a testbed emulates devices on it.

A core with nothing to run halts; on a virtual machine the hypervisor may then give its physical core to
other work, and the first compute after the idle spell pays for what that work took, in CPU time
(docs/emulation.md, idle states, has the figures). A tier holds each step for its CPU time
(tiers/speed.py), so its device would run slower whenever the host had idled before a step: after another
cell's request waited on a delayed link, say, which makes the cells a link condition never touches differ
across its conditions. No device does that.

The kernel's PM QoS request (/dev/cpu_dma_latency, the interface latency-tuned systems use) keeps every
core in its polling idle state while the file stays open: an idle core spins instead of halting. It is
held while a testbed emulates devices on this host and while the host's nominal speed is measured, so
both see the host alike; closing the file (or the process ending) gives the cores back. It costs an idle
core's power, nothing of the work that runs. Opening it needs root; where it cannot be held, the
emulation report says so.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

PM_QOS = Path("/dev/cpu_dma_latency")


class AwakeCores:
    """Holds this host's cores awake from construction until `release()` (or the process ends)."""

    def __init__(self, path: Path = PM_QOS):
        self._fd: int | None = None
        self.reason: str | None = None  # why the cores could not be held awake
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, struct.pack("i", 0))  # no wake-up latency accepted: only the polling idle state
            except OSError:
                os.close(fd)
                raise
        except OSError as exc:
            self.reason = f"{path}: {exc.strerror or exc}"
            return
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def describe(self) -> str:
        if self.held:
            return "idle states: the host's cores held awake while it emulates (PM QoS latency 0)"
        return (f"idle states: the host's cores could not be held awake ({self.reason}); a step that follows "
                "an idle spell takes longer, and the tiers run slower then")

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> "AwakeCores":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
