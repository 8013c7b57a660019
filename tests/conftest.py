"""Shared fixtures: a per-session cache so the tiny subjects train once, and root detection."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root: network namespaces and cgroups")


@pytest.fixture(scope="session", autouse=True)
def no_work_folders_left():
    """Tier servers the tests kill cannot remove their work folders: the sweep of their owners' successors
    does (tiers/workdirs.py), and a last one at the session's end; no folder of a dead owner is left."""
    yield
    from edgewise.tiers import workdirs

    workdirs.sweep()
    left = workdirs.sweep()  # a second sweep finds nothing: the first removed every dead owner's folder
    assert not left, f"work folders of dead processes left in the temporary directory: {left}"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("edgewise-cache")


@pytest.fixture(scope="session")
def subject_ctx(cache_dir):
    from edgewise.subjects import SubjectContext

    return SubjectContext(cache_dir=cache_dir, seed=0, profile="quick", log=lambda m: None)


@pytest.fixture(scope="session")
def tiny_cnn(subject_ctx):
    from edgewise.subjects import get_subject

    return get_subject("tiny-cnn", subject_ctx)


@pytest.fixture(scope="session")
def tiny_bert(subject_ctx):
    from edgewise.subjects import get_subject

    return get_subject("tiny-bert", subject_ctx)
