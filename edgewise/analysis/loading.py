"""One entry point that reads any supported results file into a ResultSet."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from edgewise.analysis.generic_csv import load_generic_csv
from edgewise.analysis.reference import load_reference
from edgewise.analysis.results import ResultSet, read_results, results_path
from edgewise.errors import DataError

ResultsFormat = Literal["auto", "edgewise", "reference", "csv"]
FORMATS: tuple[str, ...] = ("auto", "edgewise", "reference", "csv")


def _detect(path: Path) -> ResultsFormat:
    if path.suffix.lower() == ".json":
        return "edgewise"
    with path.open(newline="") as f:
        header = f.readline().strip().lower()
    return "reference" if header.startswith("inference,device,model") else "csv"


def load_results(source: str | Path | ResultSet, format: ResultsFormat = "auto") -> ResultSet:
    """Read a study directory (DIR/results.json), a results.json, a reference latency CSV or a generic CSV
    (an already loaded ResultSet is returned as it is)."""
    if isinstance(source, ResultSet):
        return source
    path = results_path(source)
    if not path.exists():
        raise DataError(f"no results at {path}", "pass a study directory, a results.json or a CSV")
    if format not in FORMATS:
        raise DataError(f"unknown results format {format!r}", f"use one of {', '.join(FORMATS)}")
    kind = _detect(path) if format == "auto" else format
    if kind == "edgewise":
        return ResultSet.from_dict(read_results(path))
    if kind == "reference":
        return load_reference(path)
    return load_generic_csv(path)
