"""How often this host's cores enter a halting idle state (cpuidle's counters: every state but POLL)."""

from __future__ import annotations

import time
from pathlib import Path

CPUS = Path("/sys/devices/system/cpu")


def halting_states() -> list[Path]:
    return [d for d in CPUS.glob("cpu[0-9]*/cpuidle/state[0-9]*") if (d / "name").read_text().strip() != "POLL"]


def halts_during(seconds: float) -> int:
    """How many times a core halted while this thread slept `seconds`."""
    states = halting_states()
    before = sum(int((d / "usage").read_text()) for d in states)
    time.sleep(seconds)
    return sum(int((d / "usage").read_text()) for d in states) - before
