"""Latency fan-out over two testbeds of a real local Ray cluster, each pinned to its "host" by a resource.

Two sets of loopback `edgewise serve` tier servers stand for two hosts. The study's driver is a
subprocess, killed with SIGKILL mid-way and run again: every cell ends with exactly the protocol's
samples, measured on one testbed, none twice.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]
INPUTS, PASSES, CELLS = 6, 3, 7


def _env(**extra: str) -> dict[str, str]:  # read when used: the cluster's fixture sets its token in os.environ
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **extra}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def two_hosts():
    """Per host a mobile, an edge and a cloud server, all six started at once (ports chosen first for --peers)."""
    endpoints = [{t: f"127.0.0.1:{_free_port()}" for t in ("mobile", "edge", "cloud")} for _ in range(2)]
    procs = []
    try:
        for host in endpoints:
            for tier, address in host.items():
                peers = ",".join(f"{t}={a}" for t, a in host.items() if t != tier)
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "edgewise.cli", "serve", "--tier", tier, "--listen", address,
                     "--threads", "1", "--peers", peers],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(), cwd=ROOT))
        for proc in procs:
            line = proc.stdout.readline()
            assert " serving on " in line, line + proc.stdout.read()
        yield endpoints
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def _events(out: Path, kind: str) -> list[tuple[str, str]]:
    if not (out / "study.sqlite").exists():
        return []
    db = sqlite3.connect(f"file:{out / 'study.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT cell, message FROM events WHERE kind = ?", (kind,)).fetchall()
    except sqlite3.OperationalError:  # the driver has not created its tables yet
        return []
    finally:
        db.close()


@pytest.mark.slow  # two drivers, six servers and a cluster: minutes on 2 loaded cores, whatever the study's size
def test_cells_fan_out_over_two_testbeds_and_resume_after_the_driver_is_killed(ray_cluster, two_hosts, cache_dir,
                                                                                tmp_path):
    a, b = two_hosts
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({
        "name": "fan-out", "subjects": ["tiny-cnn"], "seed": 0,
        "cells": [{"chains": ["identity", "sptq"], "placements": ["mobile", "edge", "cloud"]},
                  {"chains": ["partition"], "placements": ["mobile-edge"]}],
        "testbed": {"kind": "remote", "endpoints": a, "verify": False},
        # A session per request: a cell lasts long enough for the driver to be killed between cells.
        "measure": {"inputs": INPUTS, "passes": PASSES, "warmup_passes": 1, "warmup_inputs": INPUTS,
                    "cold_start": True},
        # No shared cache: the actors get the artifacts' files from the driver, as on hosts of their own.
        "executor": {"kind": "ray", "shared_cache": False, "testbeds": [{"name": "a", "resources": {"host-a": 1}, "endpoints": a},
                                                 {"name": "b", "resources": {"host-b": 1}, "endpoints": b}]}}))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "edgewise.cli", "run", str(study), "--out", str(out), "--cache", str(cache_dir),
           "--executor", f"ray={ray_cluster}"]

    env = _env(EDGEWISE_WORKER_CACHE=str(tmp_path / "worker-cache"))
    driver = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
                              start_new_session=True)
    deadline = time.time() + 300
    while not _events(out, "measured-on") and driver.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert driver.poll() is None, driver.stdout.read()
    os.killpg(driver.pid, signal.SIGKILL)  # the driver, mid-way through the measurements
    driver.wait()
    before = dict(_events(out, "measured-on"))
    assert 1 <= len(before) < CELLS, before

    finished = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    db = sqlite3.connect(out / "study.sqlite")
    counts = dict(db.execute("SELECT cell, COUNT(*) FROM latency GROUP BY cell").fetchall())
    statuses = dict(db.execute("SELECT name, status FROM cells").fetchall())
    db.close()
    assert len(counts) == CELLS and set(counts.values()) == {INPUTS * PASSES}, counts
    assert set(statuses.values()) == {"measured"}, statuses
    measured_on = _events(out, "measured-on")
    cells = [cell for cell, _ in measured_on]
    assert sorted(cells) == sorted(counts), measured_on  # every cell once, none twice
    assert {message for _, message in measured_on} == {"testbed a", "testbed b"}  # both hosts took cells
    assert all(dict(measured_on)[cell] == where for cell, where in before.items())  # nothing measured again
