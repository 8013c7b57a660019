"""Faults during a real study: tier servers SIGKILLed mid-cell, a model too big for its tier.

The study runs through the real CLI in a subprocess on the linux testbed (root: namespaces,
cgroups) or the local one; tier servers are found among the study's descendants in /proc.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import yaml

from tests.conftest import IS_ROOT, needs_root
from tests.reliability.helpers import ROOT, linear_onnx, png_folder, user_subject

TESTBED = "linux" if IS_ROOT else "local"


def _write(tmp_path: Path, study: dict) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def _start(study: Path, out: Path, cache: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "edgewise.cli", "run", str(study), "--out", str(out), "--cache", str(cache),
           "--profile", "paper"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tier_server_pid(root_pid: int, tier: str) -> int | None:
    """The pid of `tier`'s server among the descendants of `root_pid` (this study's, no one else's)."""
    tree, todo = _children(), [root_pid]
    while todo:
        pid = todo.pop()
        for child in tree.get(pid, []):
            try:
                argv = (Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0"))
            except OSError:
                continue
            if b"edgewise.tiers.server" in argv and argv[argv.index(b"--tier") + 1] == tier.encode():
                return child
            todo.append(child)
    return None


def _sample_count(out: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{out / 'study.sqlite'}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT COUNT(*) FROM latency").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


class TierKiller(threading.Thread):
    """SIGKILLs `tier`'s server each time the study's sample count passes one of `points`."""

    def __init__(self, study: subprocess.Popen, out: Path, tier: str, points: list[int]):
        super().__init__(daemon=True)
        self.study, self.out, self.tier, self.points = study, out, tier, sorted(points)
        self.killed: list[tuple[int, int]] = []  # (pid, samples when killed)

    def run(self) -> None:
        for point in self.points:
            while self.study.poll() is None and _sample_count(self.out) < point:
                time.sleep(0.01)
            pid = self._fresh_pid()
            if pid is None:
                return
            os.kill(pid, signal.SIGKILL)
            self.killed.append((pid, _sample_count(self.out)))

    def _fresh_pid(self) -> int | None:
        """The running server, not the one just killed (the study restarts it)."""
        gone = {pid for pid, _ in self.killed}
        deadline = time.monotonic() + 60
        while self.study.poll() is None and time.monotonic() < deadline:
            pid = tier_server_pid(self.study.pid, self.tier)
            if pid is not None and pid not in gone:
                return pid
            time.sleep(0.05)
        return None


def test_tier_servers_killed_mid_cell_are_restarted_and_no_sample_is_lost(tmp_path, cache_dir):
    inputs, passes = 30, 3
    study = _write(tmp_path, {
        "name": "kills", "subjects": ["tiny-cnn"],
        "cells": [{"chains": ["identity"], "placements": ["mobile", "edge"]},
                  {"chains": ["partition"], "placements": ["mobile-edge"]}],
        "testbed": {"kind": TESTBED, "preset": "paper-scaled", "verify": False},
        "measure": {"inputs": inputs, "passes": passes, "warmup_passes": 1, "retries": 3}, "seed": 0})
    out = tmp_path / "run"
    total = 3 * inputs * passes
    points = sorted(np.random.default_rng(7).choice(np.arange(10, int(total * 0.8)), size=5, replace=False).tolist())
    proc = _start(study, out, cache_dir)
    killer = TierKiller(proc, out, "edge", points)
    killer.start()
    log, _ = proc.communicate(timeout=600)
    killer.join(10)
    assert proc.returncode == 0, log[-3000:]
    assert len(killer.killed) == 5, (killer.killed, points)

    results = json.loads((out / "results.json").read_text())
    for cell in results["cells"]:
        assert cell["status"] == "ok", cell
        assert len(cell["latency_s"]) + len(cell["warmup_latency_s"]) == inputs * passes, cell["cell"]
    db = sqlite3.connect(out / "study.sqlite")
    assert db.execute("SELECT COUNT(*) FROM (SELECT DISTINCT cell, pass, input FROM latency)").fetchone()[0] == total
    events = results["events"]
    downs = [e for e in events if e["kind"] == "tier-down"]
    restarts = [e for e in events if e["kind"] == "tier-restarted"]
    failed_restarts = [e for e in events if e["kind"] == "tier-restart-failed"]  # a kill that hit a replacement
    assert len(downs) + len(failed_restarts) >= 5, events
    assert all("tier edge is down" in e["message"] for e in downs), events
    assert len(restarts) == len(downs) and all("edge" in e["message"] for e in restarts), events
    if TESTBED == "linux":
        assert all("exit status -9" in e["message"] for e in downs), downs  # the cause: SIGKILL


def test_a_server_killed_while_it_restarts_is_restarted_again(tmp_path, cache_dir):
    """The first kill lands mid-cell; the next two hit the replacement servers as soon as they exist."""
    inputs, passes = 20, 2
    study = _write(tmp_path, {
        "name": "restarts", "subjects": ["tiny-cnn"],
        "cells": [{"chains": ["identity"], "placements": ["edge"]}],
        "testbed": {"kind": TESTBED, "preset": "paper-scaled", "verify": False},
        "measure": {"inputs": inputs, "passes": passes, "warmup_passes": 1, "retries": 4}, "seed": 0})
    out = tmp_path / "run"
    proc = _start(study, out, cache_dir)
    killer = TierKiller(proc, out, "edge", [15, 15, 15])
    killer.start()
    log, _ = proc.communicate(timeout=600)
    killer.join(10)
    assert proc.returncode == 0, log[-3000:]
    assert len(killer.killed) == 3, killer.killed
    results = json.loads((out / "results.json").read_text())
    (cell,) = results["cells"]
    assert cell["status"] == "ok" and len(cell["latency_s"]) + len(cell["warmup_latency_s"]) == inputs * passes, cell
    kinds = [e["kind"] for e in results["events"]]
    # Each replacement died before it served a request: as a failed restart, or as a down tier on the next call.
    assert kinds.count("tier-restart-failed") + kinds.count("tier-down") == 3, results["events"]
    assert kinds.count("tier-restarted") >= 1, results["events"]


@needs_root
def test_model_over_the_memory_cap_does_not_fit_and_the_study_goes_on(tmp_path, cache_dir):
    """A 320 MB model on a 200 MiB mobile tier: recorded as does-not-fit on mobile; other cells measured."""
    big = linear_onnx(tmp_path / "big.onnx", extra_mb=320)
    images = png_folder(tmp_path / "images")
    study = _write(tmp_path, {
        "name": "fit", "subjects": [user_subject("big", big, images), "tiny-cnn"],
        "cells": [{"chains": ["identity"], "placements": ["mobile", "cloud"]}],
        "testbed": {"kind": "linux", "preset": "paper-scaled", "verify": False,
                    "tiers": {"mobile": {"cpus": 0.5, "memory_mb": 200}}},
        "measure": {"inputs": 4, "passes": 2, "warmup_passes": 1}, "seed": 0})
    out = tmp_path / "run"
    proc = _start(study, out, cache_dir)
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log[-3000:]
    results = json.loads((out / "results.json").read_text())
    cells = {c["cell"]: c for c in results["cells"]}
    misfit = cells["big:identity@mobile"]
    assert misfit["status"] == "does-not-fit" and "does not fit on mobile" in misfit["error"], misfit
    assert misfit["latency_s"] == []
    for name in ("big:identity@cloud", "tiny-cnn:identity@mobile", "tiny-cnn:identity@cloud"):
        assert cells[name]["status"] == "ok" and len(cells[name]["latency_s"]) == 4, cells[name]
    assert any(e["kind"] == "does-not-fit" and e["cell"] == "big:identity@mobile" for e in results["events"])
