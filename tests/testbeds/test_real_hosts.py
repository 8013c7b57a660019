"""A remote study against three real `edgewise serve` processes on loopback, standing for three hosts.

Nothing is emulated: the study measures the links and tiers, stores those figures, gates only on
what `testbed.expect` states, chooses the partition cut for the measured links, and survives a
tier that dies mid-study (its cells wait for a second run once the server is back).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edgewise.config import parse_study
from edgewise.errors import TestbedError
from edgewise.progress import Quiet
from edgewise.study import RunOptions, Study

TOKEN = "loopback-token"
# `edgewise serve` exactly, without importing every other command (as tests/tiers/test_serve_command.py does)
_SERVE = ("import typer, sys; from edgewise.commands.serve import register; app = typer.Typer(); register(app); "
          "app.command('noop')(lambda: None); app(sys.argv[1:])")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hosts:
    """mobile, edge and cloud servers, each a real process on its own port, peers wired as on real hosts."""

    def __init__(self) -> None:
        self.ports = {t: _free_port() for t in ("mobile", "edge", "cloud")}
        self.procs: dict[str, subprocess.Popen] = {}

    def address(self, tier: str) -> str:
        return f"127.0.0.1:{self.ports[tier]}"

    def start(self, *tiers: str) -> None:
        peers = {"mobile": "edge,cloud", "edge": "cloud", "cloud": ""}
        for tier in tiers:
            wired = ",".join(f"{p}={self.address(p)}" for p in filter(None, peers[tier].split(",")))
            self.procs[tier] = subprocess.Popen(
                [sys.executable, "-c", _SERVE, "serve", "--tier", tier, "--listen", self.address(tier),
                 "--token", TOKEN, "--threads", "1", *(["--peers", wired] if wired else [])],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for tier in tiers:  # each prints one line once it listens
            line = self.procs[tier].stdout.readline()
            assert "serving on" in line, line + self.procs[tier].stdout.read()

    def kill(self, tier: str) -> None:
        self.procs[tier].send_signal(signal.SIGKILL)
        self.procs[tier].wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)


@pytest.fixture
def hosts():
    h = Hosts()
    h.start("mobile", "edge", "cloud")
    yield h
    h.stop()


def _study(hosts: Hosts, cells: list[dict], **testbed) -> dict:
    return {"name": "real-hosts", "subjects": ["tiny-cnn"], "cells": cells,
            "testbed": {"kind": "remote", "token": TOKEN,
                        "endpoints": {t: hosts.address(t) for t in hosts.ports}, **testbed},
            "measure": {"inputs": 4, "passes": 3, "warmup_passes": 1, "evaluation_samples": 50}, "seed": 0}


def _run(raw: dict, out: Path, cache: Path, progress=None) -> dict:
    options = RunOptions(out=out, profile="quick", cache_dir=cache, log=lambda m: None, progress=progress)
    path = Study.open(parse_study(raw), options).run()
    return json.loads(Path(path).read_text())


def _counts(out: Path) -> dict[str, int]:
    db = sqlite3.connect(out / "study.sqlite")
    try:
        return dict(db.execute("SELECT cell, COUNT(*) FROM latency GROUP BY cell").fetchall())
    finally:
        db.close()


def test_remote_study_measures_the_hosts_and_cuts_for_the_measured_links(hosts, cache_dir, tmp_path):
    from edgewise.testbeds.measured import measured_link_specs

    raw = _study(hosts, [{"chains": ["identity"], "placements": ["mobile", "cloud"]},
                         {"chains": ["partition"], "placements": ["edge-cloud"]}])
    results = _run(raw, tmp_path / "run", cache_dir)

    cells = {c["cell"]: c for c in results["cells"]}
    assert all(c["status"] == "ok" and len(c["latency_s"]) == 8 for c in cells.values()), cells
    emulation = results["emulation"]
    figures = {f["name"]: f for f in emulation["figures"]}
    for link in ("client-mobile", "mobile-edge", "edge-cloud"):  # every link a placement uses, nothing requested
        assert figures[f"rtt:{link}"]["requested"] is None and 0 < figures[f"rtt:{link}"]["achieved"] < 50
        assert figures[f"bandwidth:{link}:up"]["achieved"] > 100  # loopback: far beyond any preset's link
        assert figures[f"jitter:{link}"]["achieved"] >= 0
    for tier in ("mobile", "edge", "cloud"):
        assert all(0.05 < figures[f"speed:{tier}:{size}"]["achieved"] < 20 for size in ("0.3ms", "3ms", "30ms"))
        assert figures[f"speed:{tier}:3ms"]["requested"] is None  # a real device: measured, nothing requested
        host = emulation["hosts"][tier]
        assert host["edgewise"] and host["onnxruntime"] and host["cores"] >= 1 and host["cpu"]
        assert host["memory_cap"]["enforced"] is False
    testbed = results["study"]["testbed"]
    assert testbed["measured"] is True
    assert testbed["links"]["edge-cloud"]["bandwidth_mbit"] == figures["bandwidth:edge-cloud:up"]["achieved"]
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "measured on real hosts" in summary
    assert "measured on real hosts" in (tmp_path / "run" / "report.html").read_text()

    # The automatic cut was costed on the measured edge-cloud link, not on the preset's 1 Mbit/s.
    meta = cells["tiny-cnn:partition@edge-cloud"]["artifact"]["meta"]
    link = next(lk for lk in measured_link_specs(emulation) if lk.name == "edge-cloud")
    expected = meta["candidates"][0]["cut_bytes"] * 8 / (link.bandwidth_mbit * 1e6) + link.delay_ms / 1e3
    assert meta["estimate"]["transfer_s"] == pytest.approx(expected)


def test_a_network_outside_expect_refuses_the_study_before_anything_is_measured(hosts, cache_dir, tmp_path):
    raw = _study(hosts, [{"chains": ["identity"], "placements": ["cloud"]}],
                 expect={"edge-cloud": {"bandwidth_mbit": [5, 50]}})
    out = tmp_path / "run"
    with pytest.raises(TestbedError) as refused:
        _run(raw, out, cache_dir)
    assert "bandwidth:edge-cloud:up" in refused.value.message and "expected 5 to 50" in refused.value.message
    assert "network" in refused.value.hint and "kernel" not in refused.value.hint
    assert not (out / "study.sqlite").exists()  # no sample, no store: nothing was measured


def test_testbed_check_prints_the_measured_figures_and_the_hosts(hosts, tmp_path, capsys):
    import yaml

    from edgewise.commands.testbed import check

    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(_study(hosts, [{"chains": ["identity"], "placements": ["cloud"]}])))
    check(study=study, as_json=True, quick=True)
    printed = json.loads(capsys.readouterr().out)
    names = {f["name"] for f in printed["figures"]}
    assert {"rtt:edge-cloud", "jitter:edge-cloud", "bandwidth:edge-cloud:up", "speed:cloud:3ms"} <= names
    assert printed["failures"] == [] and set(printed["hosts"]) == {"mobile", "edge", "cloud"}


def test_the_measured_network_is_part_of_the_partition_artifact_key(tiny_cnn, cache_dir, tmp_path):
    from edgewise.building.artifacts import ArtifactCache
    from edgewise.operators.base import BuildContext
    from edgewise.operators.chain import Chain, build_chain
    from edgewise.testbeds.measured import measured_link_specs
    from edgewise.tiers.spec import Placement, TierSpec

    def report(edge_cloud_mbit: float) -> dict:  # what two networks measure, as a stored report holds it
        figures = []
        for link, rate in (("client-mobile", 900.0), ("mobile-edge", 300.0), ("edge-cloud", edge_cloud_mbit)):
            figures += [{"name": f"rtt:{link}", "achieved": 4.0}, {"name": f"bandwidth:{link}:up", "achieved": rate},
                        {"name": f"bandwidth:{link}:down", "achieved": rate}]
        return {"figures": figures}

    cache = ArtifactCache(tmp_path / "artifacts")
    tiers = {t: TierSpec(t, 1.0, 1024) for t in ("mobile", "edge", "cloud")}

    def build(links):
        def make_ctx(workdir):
            return BuildContext(subject=tiny_cnn, workdir=workdir, placement=Placement.parse("edge-cloud"),
                                tiers=tiers, links=links, log=lambda m: None)
        return build_chain(Chain.parse("partition"), tiny_cnn, cache, make_ctx, log=lambda m: None)

    fast, slow = build(measured_link_specs(report(1000.0))), build(measured_link_specs(report(2.0)))
    assert fast.key != slow.key
    assert slow.meta["estimate"]["transfer_s"] > fast.meta["estimate"]["transfer_s"]
    assert build(measured_link_specs(report(1004.0))).key == fast.key  # the same network, measured again


def test_a_dead_tier_host_marks_its_cells_and_a_second_run_completes_them(hosts, cache_dir, tmp_path):
    raw = _study(hosts, [{"chains": ["identity"], "placements": ["mobile", "edge", "cloud"]}])
    out, expected = tmp_path / "run", 1 + 4 * 2  # the quick profile warms each cell up with one request

    class KillCloud(Quiet):  # the cloud host dies after the fifth latency sample of the study
        samples = 0

        def advance(self, stage):
            if stage == "latency":
                self.samples += 1
                if self.samples == 5:
                    hosts.kill("cloud")

    first = {c["cell"]: c for c in _run(raw, out, cache_dir, KillCloud())["cells"]}
    cloud = first["tiny-cnn:identity@cloud"]
    assert cloud["status"] == "tier-down" and "tier cloud" in cloud["error"] and "run the study again" in cloud["error"]
    assert first["tiny-cnn:identity@mobile"]["status"] == first["tiny-cnn:identity@edge"]["status"] == "ok"
    before = _counts(out)
    assert before["tiny-cnn:identity@mobile"] == before["tiny-cnn:identity@edge"] == expected
    assert before.get("tiny-cnn:identity@cloud", 0) < expected

    hosts.start("cloud")  # its owner brings the host back on the same address
    second = {c["cell"]: c for c in _run(raw, out, cache_dir)["cells"]}
    assert all(c["status"] == "ok" for c in second.values()), second
    assert _counts(out) == {name: expected for name in second}  # nothing measured twice, nothing missing
    db = sqlite3.connect(out / "study.sqlite")
    passes_inputs = db.execute("SELECT COUNT(DISTINCT pass || '/' || input) FROM latency "
                               "WHERE cell = 'tiny-cnn:identity@cloud'").fetchone()[0]
    db.close()
    assert passes_inputs == expected


def test_a_server_of_another_edgewise_version_is_refused(monkeypatch):
    import edgewise
    from edgewise.config import TestbedConfig
    from edgewise.testbeds import make_testbed
    from edgewise.tiers.server import ServerConfig, TierServer
    from edgewise.tiers.spec import TierSpec

    server = TierServer(ServerConfig(tier="edge")).start()
    try:
        server.host["edgewise"] = "0.0.1"  # what an older install on that host would answer
        testbed = make_testbed(TestbedConfig(kind="remote", endpoints={"edge": server.address}))
        with pytest.raises(TestbedError) as refused:
            testbed.start({"edge": TierSpec("edge", 1.0, 1024)}, [])
        assert "0.0.1" in refused.value.message and edgewise.__version__ in refused.value.message
        assert f"install edgewise {edgewise.__version__}" in refused.value.hint
    finally:
        server.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="a cgroup memory cap needs root")
def test_serve_memory_cap_is_enforced_by_a_cgroup_and_described():
    from edgewise.testbeds import cgroups
    from edgewise.tiers.client import TierClient

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, "serve", "--tier", "edge", "--listen",
                             f"127.0.0.1:{port}", "--memory-mb", "512"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert "memory cap: cgroup" in line, line
        with TierClient({"edge": f"127.0.0.1:{port}"}) as client:
            cap = client.ping("edge")["host"]["memory_cap"]
        assert cap["enforced"] is True and cap["memory_mb"] == 512
        mine = [d for d in cgroups.stale_dirs() if d.name.endswith(f"-{proc.pid}")]
        limit = "memory.max" if cgroups.is_v2() else "memory.limit_in_bytes"
        assert [int((d / limit).read_text()) for d in mine] == [512 * 2**20]
        assert str(proc.pid) in (mine[0] / "cgroup.procs").read_text().split()
    finally:
        proc.terminate()
        proc.wait(10)
    assert not [d for d in cgroups.stale_dirs() if d.name.endswith(f"-{proc.pid}")]  # removed on SIGTERM
