"""Top-level task functions for the lane tests: spawned lanes import them by name."""

from __future__ import annotations

import os
import time
from pathlib import Path


def record(folder: str, name: str, log) -> str:
    """Leaves a file saying when it ran, so a test can tell the order."""
    log(f"running {name}")
    (Path(folder) / f"{time.monotonic_ns()}-{name}").touch()
    return name


def fail(name: str, log) -> str:
    raise RuntimeError(f"{name} cannot be built")


def threads(log) -> int:
    import torch

    return torch.get_num_threads()


def sleep_forever(folder: str, log) -> None:
    (Path(folder) / f"lane-{os.getpid()}").touch()
    time.sleep(300)
