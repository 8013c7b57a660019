"""`edgewise run` of a server-scenario study and `edgewise load` take one path: every run option reaches it
(--fresh, --device, --executor, --lanes), the testbed is verified, and load.json comes from the store."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from edgewise.cli import app

STUDY = {"name": "server-options", "subjects": ["tiny-cnn"], "seed": 0,
         "cells": [{"chains": ["identity", "sptq"], "placements": ["edge"]}],
         "testbed": {"kind": "local", "tolerance": 0.9},  # the figures: tests/testbeds
         "measure": {"scenario": "server", "inputs": 4, "load": {"requests_per_step": 40, "max_steps": 2}},
         "sla": {"max_latency_ms": 200, "percentile": 50}}


def test_a_server_study_honours_every_run_option(ray_cluster, tmp_path):
    study, out, cache = tmp_path / "study.yaml", tmp_path / "out", tmp_path / "cache"
    study.write_text(yaml.safe_dump(STUDY))
    out.mkdir()
    (out / "stale.txt").write_text("from an earlier run")
    result = CliRunner().invoke(app, ["run", str(study), "--out", str(out), "--cache", str(cache), "--fresh",
                                      "--device", "cpu", "--executor", f"ray={ray_cluster}", "--lanes", "1"],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert not (out / "stale.txt").exists()  # --fresh
    assert "ray:" in result.output and "task(s)" in result.output  # --executor: built on the cluster
    assert "verifying the emulation" in result.output  # the server scenario verifies its testbed too
    cells = {c["cell"]: c for c in json.loads((out / "load.json").read_text())["cells"]}
    assert all(c["status"] == "ok" and c["service_s"] > 0 for c in cells.values()), cells
    assert (out / "load.html").exists() and (out / "report.html").exists()

    # `edgewise load` of the same study: the same path, its options too (the cache holds the artifacts now; the
    # testbed, verified above, is not verified again).
    study.write_text(yaml.safe_dump({**STUDY, "testbed": {**STUDY["testbed"], "verify": False}}))
    again = CliRunner().invoke(app, ["load", str(study), "--out", str(tmp_path / "load"), "--cache", str(cache),
                                     "--executor", "local", "--lanes", "2", "--device", "cpu"],
                               env={"COLUMNS": "250"})
    assert again.exit_code == 0, again.output
    assert "ray:" not in again.output
    reloaded = json.loads((tmp_path / "load" / "load.json").read_text())["cells"]
    assert {c["cell"] for c in reloaded} == set(cells) and all(c["status"] == "ok" for c in reloaded)
