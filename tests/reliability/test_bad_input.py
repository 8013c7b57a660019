"""Bad input from the user: one actionable line on stderr, exit code 2, nothing claimed in the store.

Each case runs the real CLI (`python -m edgewise.cli run`) in a subprocess. The unknown-subject
case lives in tests/study/test_study_run.py.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import IS_ROOT
from tests.reliability.helpers import ROOT, cli, linear_onnx, png_folder, user_subject


@pytest.fixture(scope="module")
def user_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("user-files")
    return {"onnx": linear_onnx(root / "linear.onnx"), "images": png_folder(root / "images"),
            "big_images": png_folder(root / "big-images", size=32)}


def _study(tmp_path: Path, subjects: list, chains=("identity",), placements=("edge",), **extra) -> Path:
    study = {"name": "bad", "subjects": subjects,
             "cells": [{"chains": list(chains), "placements": list(placements)}],
             "testbed": {"kind": "local"}, "measure": {"inputs": 2, "passes": 2, "warmup_passes": 1}, **extra}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def _assert_refused(proc, out: Path, *needles: str) -> None:
    """Exit 2, exactly one line on stderr naming the problem, no traceback, no study in the store."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and lines[0].startswith("edgewise: error:")
    for needle in needles:
        assert needle in lines[0], lines[0]
    db = out / "study.sqlite"
    if db.exists():
        rows = sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE name = 'study'").fetchall()
        claimed = rows and sqlite3.connect(db).execute("SELECT COUNT(*) FROM study").fetchone()[0]
        assert not claimed, "a refused study was recorded in the store"


def _run(study: Path, out: Path, cache: Path, **kw):
    return cli("run", str(study), "--out", str(out), "--cache", str(cache), **kw)


def test_malformed_yaml(tmp_path):
    study = tmp_path / "study.yaml"
    study.write_text("name: broken\nsubjects: [tiny-cnn\ncells:\n  - chains: {identity\n")
    _assert_refused(_run(study, tmp_path / "out", tmp_path / "cache"), tmp_path / "out", "malformed YAML", "line")


def test_missing_study_file(tmp_path):
    _assert_refused(_run(tmp_path / "nowhere.yaml", tmp_path / "out", tmp_path / "cache"), tmp_path / "out",
                    "not found")


@pytest.mark.parametrize("chains, placements, needle", [
    (["sptq+nosuch"], ["edge"], "nosuch"),
    (["identity"], ["moon"], "moon"),
    (["partition+qat"], ["mobile-edge"], "impossible"),
])
def test_unknown_chain_placement_and_impossible_chain(tmp_path, chains, placements, needle):
    study = _study(tmp_path, ["tiny-cnn"], chains, placements)
    _assert_refused(_run(study, tmp_path / "out", tmp_path / "cache"), tmp_path / "out", needle)


def test_missing_model_file(tmp_path, user_files):
    study = _study(tmp_path, [user_subject("mine", tmp_path / "absent.onnx", user_files["images"])])
    _assert_refused(_run(study, tmp_path / "out", tmp_path / "cache"), tmp_path / "out", "absent.onnx")


@pytest.mark.parametrize("content", [b"\x00\x01 definitely not protobuf \xff" * 50, b"name: a yaml file, not a model\n"])
def test_corrupt_or_non_onnx_model_file(tmp_path, user_files, content):
    model = tmp_path / "model.onnx"
    model.write_bytes(content)
    study = _study(tmp_path, [user_subject("mine", model, user_files["images"])])
    _assert_refused(_run(study, tmp_path / "out", tmp_path / "cache"), tmp_path / "out", "model.onnx")


def test_dataset_that_does_not_match_the_model(tmp_path, user_files):
    # 32x32 RGB images for a model that takes 16x16 grey-scale
    subject = user_subject("mine", user_files["onnx"], user_files["big_images"], size=32, channels=3)
    study = _study(tmp_path, [subject])
    _assert_refused(_run(study, tmp_path / "out", tmp_path / "cache"), tmp_path / "out", "does not accept the data")


@pytest.mark.skipif(not IS_ROOT or shutil.which("setpriv") is None, reason="needs root to drop to nobody")
def test_linux_testbed_without_root(user_files):
    """Run as nobody: the linux testbed cannot be created, and that is said before anything is written."""
    work = Path(tempfile.mkdtemp(prefix="edgewise-nobody-"))
    try:
        os.chmod(work, 0o777)
        shutil.copy(user_files["onnx"], work / "linear.onnx")
        shutil.copytree(user_files["images"], work / "images")
        for p in (work / "linear.onnx", work / "images", *(work / "images").iterdir()):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        study = _study(work, [user_subject("mine", work / "linear.onnx", work / "images")],
                       testbed={"kind": "linux"})
        os.chmod(study, 0o644)
        out = work / "out"
        _assert_refused(_as_nobody(study, out, work), out, "root")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _as_nobody(study: Path, out: Path, work: Path) -> subprocess.CompletedProcess:
    cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-m", "edgewise.cli",
           "run", str(study), "--out", str(out), "--cache", str(work / "cache")]
    # nobody's own home and cache: one inherited from root is not nobody's to write (ONNX Runtime warns then).
    env = {**os.environ, "HOME": str(work), "XDG_CACHE_HOME": str(work / ".cache"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=work, env=env)
