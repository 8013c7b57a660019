"""A busy host can neither stop nor fool a study: a neighbour taking the host's cores while the study verifies
and measures leaves it to measure (its devices keep their speed), and a testbed that truly cannot emulate
the study stops it before any build, with the figure that failed."""

from __future__ import annotations

import pytest
import yaml

from edgewise.config import load_study
from edgewise.errors import TestbedError
from edgewise.study import RunOptions, Study
from edgewise.testbeds.local import LocalTestbed
from edgewise.testing.neighbour import neighbour as neighbour_processes
from tests.conftest import IS_ROOT

TESTBED = "linux" if IS_ROOT else "local"


def _study(tmp_path, kind: str = TESTBED):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({
        "name": "neighbour", "subjects": ["tiny-cnn"],
        "cells": [{"chains": ["identity", "sptq"], "placements": ["mobile", "cloud"]}],
        "testbed": {"kind": kind, "preset": "paper-scaled"},
        "measure": {"inputs": 4, "passes": 3, "warmup_passes": 1}, "seed": 0}))
    return load_study(path)


@pytest.fixture
def neighbour():
    """One process per core, each multiplying matrices on one thread at ordinary priority."""
    with neighbour_processes(size=1200) as procs:
        yield procs


def test_a_neighbour_during_verification_leaves_the_study_to_measure(tmp_path, cache_dir, neighbour):
    study = Study.open(_study(tmp_path), RunOptions(out=tmp_path / "run", cache_dir=cache_dir, profile="quick",
                                                    log=lambda m: None))
    results = study.run()
    assert all(p.poll() is None for p in neighbour)  # the neighbour ran throughout
    import json

    data = json.loads(results.read_text())
    assert [c["status"] for c in data["cells"]] == ["ok"] * 4
    assert not [f for f in data["emulation"]["figures"] if f["gates"] and f["error"] is not None
                and f["error"] > 0.15 + f.get("slack_above", 0.0) and f["unit"] != "ms"]
    assert data["study"]["drift"]["factor"]  # the host's speed over the run is recorded


class _IgnoresSpeed(LocalTestbed):
    """A testbed that truly cannot emulate its tiers: its mobile tier runs at this host's full speed."""

    def _spawn(self, tier: str) -> None:
        asked = self.tiers[tier]
        if tier == "mobile":
            self.tiers[tier] = type(asked)("mobile", asked.cpus, asked.memory_mb, speed=1.0)
        try:
            super()._spawn(tier)
        finally:
            self.tiers[tier] = asked  # what the study asked for is what verification holds it to


def test_a_testbed_that_cannot_emulate_the_study_stops_it_before_any_build(tmp_path, cache_dir, monkeypatch):
    config = _study(tmp_path, kind="local")
    monkeypatch.setattr("edgewise.study.make_testbed", lambda _config: _IgnoresSpeed())
    built = []
    monkeypatch.setattr(Study, "build", lambda self, cells: built.append(cells) or [])
    study = Study.open(config, RunOptions(out=tmp_path / "run", cache_dir=cache_dir / "fresh", profile="quick",
                                          log=lambda m: None, lanes=1))
    with pytest.raises(TestbedError, match="speed:mobile"):
        study.run()
    assert not built and not (cache_dir / "fresh" / "artifacts").exists()
