"""The executor section and --executor: local by default, outside the study's fingerprint, Ray only when asked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edgewise.config import apply_profile, parse_study
from edgewise.errors import ConfigError
from edgewise.executors.choice import make_executor, parse_choice
from edgewise.executors.local import LocalExecutor
from edgewise.study import RunOptions, Study

BASE = {"name": "x", "subjects": ["tiny-cnn"], "cells": [{"chains": ["identity"], "placements": ["edge"]}]}


def test_local_is_the_default_and_the_section_is_not_part_of_the_fingerprint(tmp_path):
    plain = parse_study(BASE)
    on_ray = parse_study({**BASE, "executor": {"kind": "ray", "address": "10.0.0.1:6379",
                                               "testbeds": [{"name": "a", "resources": {"host-a": 1}}]}})
    assert plain.executor.kind == "local" and on_ray.executor.kind == "ray"
    options = RunOptions(out=tmp_path, cache_dir=tmp_path / "c")
    assert Study.open(plain, options).fingerprint() == Study.open(on_ray, options).fingerprint()
    assert apply_profile(on_ray, "quick").executor == on_ray.executor  # the profile keeps it
    assert isinstance(Study.open(plain, options).executor(), LocalExecutor)


def test_a_bad_executor_names_the_field():
    with pytest.raises(ConfigError, match="executor.kind"):
        parse_study({**BASE, "executor": {"kind": "slurm"}})
    with pytest.raises(ConfigError, match="executor.testbeds.0.name"):
        parse_study({**BASE, "executor": {"kind": "ray", "testbeds": [{"resources": {"a": 1}}]}})


def test_the_command_line_choice_lays_over_the_study_file():
    config = parse_study({**BASE, "executor": {"kind": "ray", "address": "head:6379", "cpus_per_task": 2}}).executor
    assert parse_choice("local", config).kind == "local"
    over = parse_choice("ray=auto", config)
    assert (over.kind, over.address, over.cpus_per_task) == ("ray", "auto", 2)
    with pytest.raises(ConfigError, match="unknown executor"):
        parse_choice("dask", config)


def test_without_ray_installed_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where the extra is not installed
    config = parse_study({**BASE, "executor": {"kind": "ray"}}).executor
    with pytest.raises(ConfigError, match=r"edgewise\[ray\]"):
        make_executor(config)


def test_packs_install_an_artifact_as_the_cache_commits_it(tmp_path):
    from edgewise.building.artifacts import Artifact, ArtifactCache
    from edgewise.executors.packs import install, pack_artifact

    source = ArtifactCache(tmp_path / "a" / "artifacts")
    staging = source.staging()
    (staging / "model.onnx").write_bytes(b"\x08\x01model")
    source.commit("k1", staging, Artifact("s", ("sptq",), (staging / "model.onnx",), meta={"m": 1}))
    pack = pack_artifact(tmp_path / "a", "k1")
    assert set(pack) == {"artifacts/k1/model.onnx", "artifacts/k1/artifact.json"}
    install(tmp_path / "b", pack)
    installed = ArtifactCache(tmp_path / "b" / "artifacts").get("k1")  # hashes checked on load
    assert installed is not None and installed.parts[0].read_bytes() == b"\x08\x01model" and installed.meta == {"m": 1}
    assert [p.name for p in Path(tmp_path / "b" / "artifacts").iterdir()] == ["k1"]  # no staging left behind
