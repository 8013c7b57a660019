"""The local build runs missing teachers and steps in lanes and leaves the cache a one-process build leaves."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgewise.config import parse_study
from edgewise.errors import ConfigError
from edgewise.executors import ExecutorConfig
from edgewise.executors.choice import make_executor
from edgewise.executors.local import build_in_lanes
from edgewise.study import RunOptions, Study

STUDY = {"name": "tiny-lanes", "subjects": ["tiny-cnn"], "testbed": {"kind": "local"}, "seed": 0,
         "cells": [{"chains": ["identity", "sptq", "prune", "distill+sptq"], "placements": ["mobile"]},
                   {"chains": ["partition"], "placements": ["mobile-edge"]}]}


def _study(cache: Path, logged: list[str] | None = None, **extra) -> Study:
    log = logged.append if logged is not None else (lambda m: None)
    return Study.open(parse_study({**STUDY, **extra}), RunOptions(out=cache, cache_dir=cache, log=log))


def _entries(cache: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (cache / "artifacts").iterdir() if not p.name.startswith(".")}


@pytest.mark.timeout(600)
def test_lanes_build_every_missing_step_with_the_keys_of_a_one_process_build(tmp_path):
    logged: list[str] = []
    lanes = _study(tmp_path / "lanes", logged)
    cells = lanes.plan()

    outcomes = build_in_lanes(lanes.workshop, cells, lanes.progress, lanes=2)

    assert "teacher:tiny-cnn" in outcomes and all(o.error is None for o in outcomes.values()), outcomes
    assert len(outcomes) == 1 + 1 + 5  # the teacher, the exported model, sptq, prune, distill, distill+sptq, partition
    assert any("built tiny-cnn:distill+sptq in a lane" in m for m in logged)
    in_lanes = _entries(tmp_path / "lanes")
    # The in-process build after the lanes finds everything in the cache: nothing is built again.
    built = {b.cell.name: b.artifact.key for b in lanes.workshop.build_all(cells)}
    assert _entries(tmp_path / "lanes") == in_lanes and set(built.values()) <= set(in_lanes)

    # One process, one step after the other, from the same teacher: the same keys, the same cache.
    shutil.copytree(tmp_path / "lanes" / "teachers", tmp_path / "one" / "teachers")
    one = _study(tmp_path / "one")
    assert {b.cell.name: b.artifact.key for b in one.workshop.build_all(one.plan())} == built
    assert set(_entries(tmp_path / "one")) == set(in_lanes)


@pytest.mark.timeout(300)
def test_a_step_failing_in_its_lane_leaves_the_other_steps_built(cache_dir):
    logged: list[str] = []
    study = _study(cache_dir, logged, operators={"partition": {"cut": ["no-such-tensor"]}},
                   cells=[{"chains": ["sptq"], "placements": ["mobile"]}, {"chains": ["partition"], "placements": ["mobile-edge"]}])
    cells = study.plan()
    with make_executor(ExecutorConfig(), lambda m: None) as local:
        # A cut that is not in the model is the study file's error: the in-process build stops the study on it.
        with pytest.raises(ConfigError, match="no-such-tensor"):
            study.build(local, cells)
        sptq = next(b for b in study.build(local, cells[:1]))
    assert any("failed in its lane" in m and "no-such-tensor" in m for m in logged)
    assert sptq.artifact is not None and any(f"built {cells[0].name} (0.0 s)" in m for m in logged)


def test_fit_follows_the_cpu_share_it_is_given(tiny_cnn):
    import torch

    from edgewise.building.training import fit, share_cpu

    before = torch.get_num_threads()
    seen: list[int] = []
    try:
        share_cpu(lambda: seen.append(torch.get_num_threads()) or 1)
        fit(tiny_cnn.student(), tiny_cnn.splits().train.take(64), epochs=1, batch_size=16)
        assert torch.get_num_threads() == 1 and seen
    finally:
        share_cpu(None)
        torch.set_num_threads(before)
