"""Measured results of a study in memory: one CellResult per cell, grouped in a ResultSet.

The in-memory shape mirrors results.json, whose format this module owns (read_results reads it,
edgewise.output.results writes it from a study's store); importers of other formats
(the reference study's CSVs, a generic CSV) build the same objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgewise.errors import DataError
from edgewise.vocabulary import OK, TIER_ORDER, CellStatus

RESULTS_FORMAT = "edgewise-results/1"
DEFAULT_RUNTIME = "onnxruntime"  # a cell that names no runtime was served by it
RESULTS_FILE = "results.json"
# Single tiers first, in the order a request travels; partitions after them.
PLACEMENT_ORDER = (*TIER_ORDER, "mobile-edge", "edge-cloud", "mobile-cloud")


@dataclass(frozen=True)
class CellResult:
    """What was measured for one SUBJECT:CHAIN@PLACEMENT cell."""

    subject: str
    chain: str
    placement: str
    latency_s: np.ndarray
    status: CellStatus = OK
    error: str | None = None
    task: str | None = None
    metric: str | None = None
    accuracy: dict[str, float] = field(default_factory=dict)
    correct: np.ndarray | None = None
    warmup_latency_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    breakdown_s: dict[str, np.ndarray] = field(default_factory=dict)
    artifact: dict[str, Any] = field(default_factory=dict)
    condition: str = ""  # the network condition measured under ("" in a study without conditions)
    unheld_kept: int = 0  # samples kept although the host was too slow to hold their device's speed
    runtime: str = ""  # the runtime that served it, with its settings ("" for ONNX Runtime as it is)
    profile: dict[str, Any] | None = None  # the artifact's operator profile on the host (edgewise.profiling)
    memory: dict[str, Any] | None = None  # its serving memory per part, on the cell's tiers
    # Per latency sample, the turn of the run it was taken in (studies whose conditions take turns; else empty).
    turns: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=int))

    @property
    def name(self) -> str:
        base = f"{self.subject}:{self.chain}@{self.placement}" + (f"/{self.runtime}" if self.runtime else "")
        return f"{base}~{self.condition}" if self.condition else base

    @property
    def runtime_label(self) -> str:
        """The runtime as a report names it (the default spelled out)."""
        return self.runtime or DEFAULT_RUNTIME

    @property
    def primary_accuracy(self) -> float | None:
        """The primary metric as a fraction, or None when accuracy was not measured."""
        if self.metric is None:
            return None
        return self.accuracy.get(self.metric)

    @property
    def is_single_tier(self) -> bool:
        return "-" not in self.placement

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell": self.name, "subject": self.subject, "chain": self.chain, "placement": self.placement,
            **({"condition": self.condition} if self.condition else {}),
            **({"runtime": self.runtime} if self.runtime else {}),
            "status": self.status, "error": self.error, "task": self.task, "metric": self.metric,
            "accuracy": dict(self.accuracy),
            "correct": None if self.correct is None else self.correct.astype(int).tolist(),
            "latency_s": self.latency_s.tolist(),
            **({"turns": self.turns.tolist()} if self.turns.size else {}),
            "warmup_latency_s": self.warmup_latency_s.tolist(),
            "breakdown_s": {k: v.tolist() for k, v in self.breakdown_s.items()},
            "unheld_kept": self.unheld_kept,
            "artifact": self.artifact,
            **({"profile": self.profile} if self.profile is not None else {}),
            **({"memory": self.memory} if self.memory is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CellResult":
        try:
            correct = d.get("correct")
            return cls(
                subject=d["subject"], chain=d["chain"], placement=d["placement"],
                latency_s=np.asarray(d.get("latency_s") or [], dtype=float),
                status=d.get("status", OK), error=d.get("error"), task=d.get("task"), metric=d.get("metric"),
                accuracy={k: float(v) for k, v in (d.get("accuracy") or {}).items() if v is not None},
                correct=None if correct is None else np.asarray(correct, dtype=bool),
                warmup_latency_s=np.asarray(d.get("warmup_latency_s") or [], dtype=float),
                breakdown_s={k: np.asarray(v, dtype=float) for k, v in (d.get("breakdown_s") or {}).items()},
                artifact=d.get("artifact") or {}, condition=d.get("condition") or "", runtime=d.get("runtime") or "",
                unheld_kept=int(d.get("unheld_kept") or 0), profile=d.get("profile"), memory=d.get("memory"),
                turns=np.asarray(d.get("turns") or [], dtype=int),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"a cell in the results is malformed: {exc!r}",
                            "each cell needs subject, chain, placement and a list latency_s") from exc


def _placement_key(placement: str) -> tuple[int, str]:
    return (PLACEMENT_ORDER.index(placement) if placement in PLACEMENT_ORDER else len(PLACEMENT_ORDER), placement)


@dataclass
class ResultSet:
    """The cells of one study (or of an imported data set) with the study's context."""

    cells: list[CellResult]
    study: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    emulation: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_name = {c.name: c for c in self.cells}
        if len(self._by_name) != len(self.cells):
            raise DataError("the results name a cell more than once", "each SUBJECT:CHAIN@PLACEMENT must be unique")

    def cell(self, name: str) -> CellResult:
        try:
            return self._by_name[name]
        except KeyError:
            raise DataError(f"no cell named {name!r} in the results",
                            f"known cells: {', '.join(sorted(self._by_name)[:8])}...") from None

    def has(self, name: str) -> bool:
        return name in self._by_name

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cells]

    @property
    def subjects(self) -> list[str]:
        return list(dict.fromkeys(c.subject for c in self.cells))

    @property
    def chains(self) -> list[str]:
        """Chains in first-seen order, identity first."""
        seen = list(dict.fromkeys(c.chain for c in self.cells))
        return sorted(seen, key=lambda ch: ch != "identity")

    @property
    def placements(self) -> list[str]:
        return sorted(dict.fromkeys(c.placement for c in self.cells), key=_placement_key)

    def filter(self, subjects: Iterable[str] | None = None, chains: Iterable[str] | None = None,
               placements: Iterable[str] | None = None, ok_only: bool = False) -> "ResultSet":
        """A ResultSet of the cells matching every given criterion (None = any)."""
        subj, chs, pls = (set(x) if x is not None else None for x in (subjects, chains, placements))
        kept = [c for c in self.cells
                if (subj is None or c.subject in subj) and (chs is None or c.chain in chs)
                and (pls is None or c.placement in pls) and (not ok_only or c.status == OK)]
        return ResultSet(kept, self.study, self.environment, self.emulation)

    @property
    def conditions(self) -> list[str]:
        """The network conditions measured, in study order ([] for a study without conditions)."""
        return list(dict.fromkeys(c.condition for c in self.cells if c.condition))

    def at_condition(self, condition: str) -> "ResultSet":
        """The cells measured under one condition, named without it, so every analysis of a study applies."""
        if condition not in self.conditions:
            raise DataError(f"no condition named {condition!r} in the results",
                            f"known conditions: {', '.join(self.conditions) or 'none'}")
        kept = [replace(c, condition="") for c in self.cells if c.condition == condition]
        return ResultSet(kept, {**self.study, "condition": condition}, self.environment, self.emulation)

    @property
    def runtimes(self) -> list[str]:
        """The runtimes that served the cells, by their labels, in first-seen order."""
        return list(dict.fromkeys(c.runtime_label for c in self.cells))

    def find(self, subject: str, chain: str, placement: str, runtime: str = "") -> CellResult | None:
        return self._by_name.get(f"{subject}:{chain}@{placement}" + (f"/{runtime}" if runtime else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"format": RESULTS_FORMAT, "study": self.study, "environment": self.environment,
                "emulation": self.emulation, "cells": [c.to_dict() for c in self.cells]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ResultSet":
        check_format(d)
        return cls([CellResult.from_dict(c) for c in d.get("cells", [])],
                   d.get("study") or {}, d.get("environment") or {}, d.get("emulation") or {})


def results_path(source: str | Path) -> Path:
    """A study's folder stands for its results.json; any other path is taken as given."""
    path = Path(source)
    return path / RESULTS_FILE if path.is_dir() else path


def check_format(data: Any) -> None:
    found = data.get("format") if isinstance(data, dict) else None
    if found != RESULTS_FORMAT:
        raise DataError(f"results format is {found!r}, expected {RESULTS_FORMAT!r}",
                        "is it a results.json written by edgewise? (a CSV: pass --format reference or csv)")


def read_results(source: str | Path) -> dict[str, Any]:
    """The one reader of results.json, as written: a study's folder or the file itself, its format checked."""
    path = results_path(source)
    if not path.is_file():
        raise DataError(f"no results at {path}", "give a study's folder (the --out of `edgewise run`) or its results.json")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON: {exc}", "is it a results.json written by edgewise?") from exc
    check_format(data)
    return data
