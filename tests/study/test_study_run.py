"""A whole study end to end on the tiny subjects, with real tier servers and real requests."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.conftest import IS_ROOT

TESTBED = "linux" if IS_ROOT else "local"


def _study(tmp_path: Path, **measure) -> Path:
    study = {
        "name": "tiny",
        "subjects": ["tiny-cnn", "tiny-bert"],
        "cells": [{"chains": ["identity", "sptq"], "placements": ["mobile", "edge"]},
                  {"chains": ["partition"], "placements": ["mobile-edge"]}],
        "testbed": {"kind": TESTBED, "preset": "paper-scaled", "tolerance": 0.9},  # figures: tests/testbeds
        "measure": {"inputs": 4, "passes": 3, "warmup_passes": 1, "warmup_inputs": 4, **measure},
        "seed": 0,
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def _run(study: Path, out: Path, cache: Path, **kw) -> subprocess.Popen:
    # The quick profile verifies with fewer requests (the study states its measurement); the full verification
    # is tests/testbeds' and the paper-profile studies'.
    cmd = [sys.executable, "-m", "edgewise.cli", "run", str(study), "--out", str(out), "--cache", str(cache), "--profile", "quick"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def _counts(out: Path) -> dict[str, int]:
    import sqlite3

    db = sqlite3.connect(out / "study.sqlite")
    return dict(db.execute("SELECT cell, COUNT(*) FROM latency GROUP BY cell").fetchall())


def test_study_runs_end_to_end(tmp_path, cache_dir):
    study, out = _study(tmp_path), tmp_path / "run"
    proc = _run(study, out, cache_dir, env={**os.environ, "COLUMNS": "300"})  # log lines unwrapped
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log
    results = json.loads((out / "results.json").read_text())
    assert len(results["cells"]) == 10
    for cell in results["cells"]:
        assert cell["status"] == "ok", cell
        assert len(cell["latency_s"]) == 4 * 2 and len(cell["warmup_latency_s"]) == 4
        assert 0.5 <= cell["accuracy"][cell["metric"]] <= 1.0
        assert len(cell["correct"]) == 300
        assert all(len(v) == 8 for v in cell["breakdown_s"].values())
    split = next(c for c in results["cells"] if c["placement"] == "mobile-edge")
    assert {"compute:mobile", "compute:edge"} <= set(split["breakdown_s"])
    for split in (c for c in results["cells"] if c["chain"] == "partition"):
        # Verified at build to compute the model's function, a split takes the model's accuracy.
        whole = next(c for c in results["cells"] if c["subject"] == split["subject"] and c["chain"] == "identity")
        assert split["accuracy"] == whole["accuracy"] and split["correct"] == whole["correct"]
        line = next(x for x in log.splitlines() if f"accuracy {split['cell']}: " in x)
        assert "head then tail reproduce it" in line, line
    assert results["emulation"], "the testbed's verified figures are stored"


def test_sigkill_at_several_points_then_resume(tmp_path, cache_dir):
    """Killing the run anywhere and starting it again ends with exactly the protocol's samples."""
    study, out = _study(tmp_path, inputs=6, warmup_inputs=2), tmp_path / "run"
    expected = 2 + 6 * 2  # a warm-up pass of 2 inputs, then two passes of 6
    kills = 0
    for delay in (3.0, 6.0):
        proc = _run(study, out, cache_dir, start_new_session=True)
        time.sleep(delay)
        if proc.poll() is not None:
            break
        os.killpg(proc.pid, signal.SIGKILL)  # the study and its tier servers, all at once
        proc.wait()
        kills += 1
    proc = _run(study, out, cache_dir)
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log
    assert kills >= 2, "the study finished before it could be killed twice: make it longer"
    counts = _counts(out)
    assert len(counts) == 10 and set(counts.values()) == {expected}, counts
    results = json.loads((out / "results.json").read_text())
    assert {(len(c["warmup_latency_s"]), len(c["latency_s"])) for c in results["cells"]} == {(2, 12)}


def test_a_cell_whose_artifact_changed_is_measured_again(tmp_path, cache_dir):
    """Samples belong to the artifact they were measured on: a rebuilt artifact drops them."""
    import sqlite3

    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({
        "name": "rebuilt", "subjects": ["tiny-cnn"], "cells": [{"chains": ["identity"], "placements": ["mobile", "edge"]}],
        "testbed": {"kind": TESTBED, "preset": "paper-scaled", "verify": False},
        "measure": {"inputs": 4, "passes": 2, "warmup_passes": 1}, "seed": 0}))
    out = tmp_path / "run"
    log, _ = _run(study, out, cache_dir).communicate(timeout=600)
    assert "results:" in log, log
    db = sqlite3.connect(out / "study.sqlite")
    with db:  # what a store measured on an older build of the mobile cell looks like
        db.execute("UPDATE cells SET artifact = 'older-build' WHERE name = 'tiny-cnn:identity@mobile'")
        db.execute("UPDATE latency SET latency_s = 99.0 WHERE cell = 'tiny-cnn:identity@mobile'")
    db.close()

    proc = _run(study, out, cache_dir)
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log
    results = json.loads((out / "results.json").read_text())
    cells = {c["cell"]: c for c in results["cells"]}
    mobile = cells["tiny-cnn:identity@mobile"]
    assert mobile["status"] == "ok" and len(mobile["latency_s"]) == 4 and max(mobile["latency_s"]) < 99.0, mobile
    assert len(cells["tiny-cnn:identity@edge"]["latency_s"]) == 4
    changed = [e for e in results["events"] if e["kind"] == "artifact-changed"]
    assert [e["cell"] for e in changed] == ["tiny-cnn:identity@mobile"], results["events"]


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path):
    study = tmp_path / "bad.yaml"
    study.write_text(yaml.safe_dump({"subjects": ["resnot"], "cells": [{"chains": ["identity"], "placements": ["edge"]}]}))
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "edgewise.cli", "run", str(study), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown subject 'resnot'" in proc.stderr
    assert not (out / "study.sqlite").exists()
