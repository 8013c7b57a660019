"""The reference study's published results (arXiv 2411.00907 white-box, 2403.17154 black-box), as package data."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

WHITEBOX_LATENCY = "whitebox-2411.00907-latency.csv"
BLACKBOX_LATENCY = "blackbox-2403.17154-latency.csv"
_FILES = (WHITEBOX_LATENCY, "whitebox-2411.00907-accuracy.csv", BLACKBOX_LATENCY, "blackbox-2403.17154-accuracy.csv")


def reference_files() -> dict[str, Path]:
    """File name -> path of each published file (installed as plain files, so a Path is enough)."""
    root = files(__package__)
    return {name: Path(str(root / name)) for name in _FILES}
