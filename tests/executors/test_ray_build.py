"""Builds on a real local Ray cluster: the same cache keys as in-process, failures confined to their cells."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ray")

from edgewise.config import parse_study  # noqa: E402
from edgewise.executors import ExecutorConfig  # noqa: E402
from edgewise.executors.choice import make_executor  # noqa: E402
from edgewise.study import RunOptions, Study  # noqa: E402

STUDY = {"name": "tiny-ray", "subjects": ["tiny-cnn"], "testbed": {"kind": "local"}, "seed": 0,
         "cells": [{"chains": ["identity", "sptq"], "placements": ["mobile"]},
                   {"chains": ["partition"], "placements": ["mobile-edge"]}]}


def _build(cache: Path, executor: ExecutorConfig, **study):
    s = Study.open(parse_study({**STUDY, **study}), RunOptions(out=cache, cache_dir=cache, log=lambda m: None))
    with make_executor(executor, lambda m: None) as runner:
        return {b.cell.name: b for b in runner.build(s.build_spec(), s.plan(), s.progress)}


def _entries(cache: Path) -> set[str]:
    return {p.name for p in (cache / "artifacts").iterdir() if not p.name.startswith(".")}


def test_a_ray_build_puts_the_keys_of_an_in_process_build(ray_cluster, cache_dir, tmp_path):
    local = _build(cache_dir, ExecutorConfig())
    on_ray = _build(tmp_path / "cache", ExecutorConfig(kind="ray", address=ray_cluster))
    assert {n: b.artifact.key for n, b in on_ray.items()} == {n: b.artifact.key for n, b in local.items()}
    assert all(b.error is None for b in on_ray.values())
    # Every step of every chain (the exported teacher too) is in the cache, as a local build leaves it.
    assert _entries(tmp_path / "cache") == {b.artifact.key for b in on_ray.values()}
    assert list((tmp_path / "cache" / "teachers").glob("tiny-cnn-*.pt"))


def test_a_failing_task_fails_its_cell_and_the_others_finish(ray_cluster, cache_dir):
    built = _build(cache_dir, ExecutorConfig(kind="ray", address=ray_cluster),
                   operators={"partition": {"cut": ["no-such-tensor"]}})
    failed = built["tiny-cnn:partition@mobile-edge"]
    assert failed.artifact is None and "no-such-tensor" in failed.error, failed.error
    assert all(b.artifact is not None for n, b in built.items() if n != failed.cell.name)


def test_workers_without_the_shared_cache_return_what_they_built(ray_cluster, tmp_path, monkeypatch):
    """The driver's cache ends up as a local build leaves it, though no worker wrote into it."""
    monkeypatch.setenv("EDGEWISE_WORKER_CACHE", str(tmp_path / "worker"))
    driver = tmp_path / "driver"
    config = ExecutorConfig(kind="ray", address=ray_cluster, shared_cache=False)
    built = _build(driver, config, cells=[{"chains": ["sptq"], "placements": ["mobile"]}])
    art = built["tiny-cnn:sptq@mobile"].artifact
    assert art is not None and art.parts[0].is_relative_to(driver)
    assert _entries(driver) == _entries(tmp_path / "worker") and len(_entries(driver)) == 2  # the root and sptq
    assert list((driver / "teachers").glob("tiny-cnn-*.json"))
    again = _build(driver, config, cells=[{"chains": ["sptq"], "placements": ["mobile"]}])  # all cached: no task
    assert again["tiny-cnn:sptq@mobile"].artifact.key == art.key
