"""A build SIGKILLed in the middle of an operator's apply leaves no half-written artifact in the
cache, and the next build succeeds and matches an uninterrupted one.

The build runs in a subprocess (`edgewise build` through the real CLI entry point); a hook in
that process announces when sptq's apply is running (before it starts, and after it wrote its
model but before the cache committed it), then waits to be killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from edgewise.building.artifacts import MANIFEST, ArtifactCache
from tests.reliability.helpers import ROOT

# Runs the CLI with Sptq.apply wrapped: touch MARK at the chosen moment, then sleep until killed.
HOOKED_BUILD = """
import sys, time
from pathlib import Path
from edgewise.operators.sptq import Sptq
from edgewise import cli

mark, moment = Path(sys.argv[1]), sys.argv[2]
real_apply = Sptq.apply

def apply(self, artifact, ctx):
    if moment == "before":
        (Path(ctx.workdir) / "model.onnx").write_bytes(b"half a model")  # as a crashing writer leaves it
        mark.touch()
        time.sleep(600)
    out = real_apply(self, artifact, ctx)
    mark.touch()
    time.sleep(600)
    return out

Sptq.apply = apply
sys.argv = ["edgewise", *sys.argv[3:]]
cli.main()
"""


def _study(tmp_path: Path) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"name": "build", "subjects": ["tiny-cnn"],
                                    "cells": [{"chains": ["sptq"], "placements": ["edge"]}], "seed": 0}))
    return path


def _build(study: Path, cache: Path, hook: tuple[Path, str] | None = None) -> subprocess.Popen:
    # One lane: the build runs in this process, where the hook is (lanes would import a fresh Sptq).
    args = ["build", str(study), "--cache", str(cache), "--profile", "quick", "--device", "cpu", "--lanes", "1"]
    cmd = [sys.executable, "-c", HOOKED_BUILD, str(hook[0]), hook[1], *args] if hook else \
        [sys.executable, "-m", "edgewise.cli", *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)


def _committed(cache: Path) -> dict[str, dict]:
    """Every committed entry (a key directory) and its manifest."""
    return {d.name: json.loads((d / MANIFEST).read_text()) for d in cache.iterdir()
            if d.is_dir() and not d.name.startswith(".")}


def _assert_only_whole_artifacts(cache: Path) -> None:
    store = ArtifactCache(cache)
    for key in _committed(cache):
        art = store.get(key)  # verifies every file's hash; a bad entry would be removed and None returned
        assert art is not None, f"cache entry {key} is not whole"
    for d in cache.iterdir():
        if d.is_dir() and not d.name.startswith("."):
            assert (d / MANIFEST).is_file(), f"{d} holds no manifest"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One folder of trained subjects shared by the builds below (only artifacts are per test)."""
    return tmp_path_factory.mktemp("subjects")


@pytest.mark.parametrize("moment", ["before", "after"])
def test_build_killed_mid_apply_leaves_no_half_artifact(tmp_path, trained, moment):
    study, cache = _study(tmp_path), tmp_path / "cache"
    cache.mkdir()
    (cache / "subjects").symlink_to(trained)
    mark = tmp_path / "in-apply"
    proc = _build(study, cache, (mark, moment))
    deadline = time.monotonic() + 300
    while not mark.exists():
        assert proc.poll() is None, proc.stdout.read()  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "sptq's apply was never reached"
        time.sleep(0.05)
    root_entries = _committed(cache / "artifacts")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()  # type: ignore[union-attr]

    artifacts = cache / "artifacts"
    assert _committed(artifacts) == root_entries, "the killed step committed something"
    assert all(m["chain"] == [] for m in root_entries.values()), "only the root (exported teacher) is committed"
    _assert_only_whole_artifacts(artifacts)

    rebuilt = _build(study, cache)
    log, _ = rebuilt.communicate(timeout=300)
    assert rebuilt.returncode == 0, log[-3000:]
    entries = _committed(artifacts)
    sptq = [k for k, m in entries.items() if m["chain"] == ["sptq"]]
    assert len(sptq) == 1, entries
    _assert_only_whole_artifacts(artifacts)
