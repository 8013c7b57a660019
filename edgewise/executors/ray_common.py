"""What the Ray executor's driver, its build tasks and its testbed actors share."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def failure_reason(exc: BaseException) -> str:
    """`Type: message` of what a task raised, or of how it was lost (worker died, node gone)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}"[:500]


def worker_cache_dir() -> str:
    """A worker's own cache where it does not share the study's (executor.shared_cache: false)."""
    return os.environ.get("EDGEWISE_WORKER_CACHE", str(Path(tempfile.gettempdir()) / "edgewise-worker-cache"))
