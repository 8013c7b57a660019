"""What a tier server runs on: hardware, OS, runtime and edgewise version, as its PING reply tells it.

A remote study records this per tier (the client's own fingerprint says nothing of the hosts that
serve), and refuses servers whose edgewise version differs from the client's: the wire protocol and
the artifacts' meaning are only promised between equal versions.
"""

from __future__ import annotations

import os
import platform
from typing import Any

import edgewise
from edgewise.environment import cpu_model, usable_cores


def describe(threads: int, providers: list[str] | None, memory: dict[str, Any] | None = None) -> dict[str, Any]:
    """This host as a tier server sees it; `memory` says whether a memory cap is enforced, and how."""
    import onnxruntime as ort

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_mb": _total_memory_mb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "providers": list(providers) if providers else ort.get_available_providers(),
        "edgewise": edgewise.__version__,
        "threads": threads,
        "memory_cap": memory or {"memory_mb": None, "enforced": False, "how": "no cap asked"},
    }


def version_mismatch(tier: str, address: str, host: dict[str, Any]) -> str | None:
    """Why the server's edgewise cannot serve this client (None: same version)."""
    theirs = host.get("edgewise")
    if theirs == edgewise.__version__:
        return None
    return (f"tier {tier} at {address} runs edgewise {theirs or 'of unknown version'}, "
            f"this client runs edgewise {edgewise.__version__}")


def proc_field_mb(path: str, field: str) -> float | None:
    """A `Field:   N kB` line of a /proc file (meminfo, self/status) in MiB; None where it cannot be read."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _total_memory_mb() -> float | None:
    total = proc_field_mb("/proc/meminfo", "MemTotal")
    return None if total is None else round(total, 1)
