"""The environment fingerprint stored with every study: what ran, on what."""

from __future__ import annotations

import os
import platform
from importlib import metadata


def fingerprint(testbed_kind: str | None = None) -> dict[str, object]:
    env: dict[str, object] = {
        "python": platform.python_version(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
    }
    for pkg in ("edgewise", "onnxruntime", "onnx", "torch", "transformers", "numpy", "torch-pruning"):
        try:
            env[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            env[pkg] = None
    if testbed_kind:
        env["testbed"] = testbed_kind
    return env


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), which a container or taskset may make
    fewer than the host's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def process_alive(pid: int) -> bool:
    """Whether process `pid` still exists (another user's process counts: it is not ours to sweep)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
