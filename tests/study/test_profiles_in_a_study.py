"""A study profiles every artifact it builds, judges model size and serving memory against its SLA, and
shows both in results.json, the report, `edgewise analyze --profile` and `edgewise recommend`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edgewise.analysis import load_results, recommend
from tests.conftest import IS_ROOT

TESTBED = "linux" if IS_ROOT else "local"


def _cli(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgewise.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "250"})


@pytest.fixture(scope="module")
def run(tmp_path_factory, cache_dir) -> Path:
    work = tmp_path_factory.mktemp("profiled-study")
    study = work / "study.yaml"
    study.write_text(yaml.safe_dump({
        "name": "profiled", "subjects": ["tiny-cnn", "tiny-bert"],
        "cells": [{"chains": ["identity", "sptq", "dptq"], "placements": ["edge"]},
                  {"chains": ["partition"], "placements": ["mobile-edge"]}],
        "testbed": {"kind": TESTBED, "preset": "paper-scaled", "verify": False},
        "measure": {"inputs": 4, "passes": 3, "warmup_passes": 1},
        "sla": {"max_latency_ms": 1000, "percentile": 50, "max_accuracy_drop": 5.0, "max_model_mb": 100,
                "max_memory_mb": 4000},
        "operators": {"sptq": {"search_runs": 3, "latency_runs": 3}, "dptq": {"search_runs": 3, "latency_runs": 3}},
        "seed": 0}))
    out = work / "run"
    done = _cli("run", str(study), "--out", str(out), "--cache", str(cache_dir), "--profile", "quick")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_every_cell_carries_its_profile_and_serving_memory(run):
    results = json.loads((run / "results.json").read_text())
    assert results["study"]["sla"]["max_memory_mb"] == 4000
    for cell in results["cells"]:
        assert cell["status"] == "ok", cell["error"]
        parts = cell["profile"]["parts"]
        assert len(parts) == cell["artifact"]["parts"] == len(cell["memory"]["parts"])
        assert all(p["by_type"] and p["run_ms"] > 0 and p["threads"] == 1 for p in parts)
        assert all(m["peak_rss_mb"] >= m["baseline_rss_mb"] > 0 for m in cell["memory"]["parts"])
    for cell in (c for c in results["cells"] if c["chain"] in ("sptq", "dptq")):
        # The profile runs what the artifact's census counts: int8 kernels exactly where nodes stayed int8 (on
        # models this small int8 may pay nowhere, and every node stays float, which the artifact warns of).
        kernels = [op for op in cell["profile"]["parts"][0]["by_type"]
                   if op.startswith("QLinear") or op in ("QGemm", "MatMulIntegerToFloat", "DynamicQuantizeMatMul")]
        meta = cell["artifact"]["meta"]
        assert bool(kernels) == bool(meta["quantized_nodes"]), (cell["cell"], kernels, meta["quantized_nodes"])
        assert bool(meta["quantized_nodes"]) or any("no node pays" in w for w in meta["warnings"])


def test_the_report_and_analyze_show_where_the_time_goes(run):
    html = (run / "report.html").read_text()
    assert "4b. Per operator" in html and "tiny-cnn:sptq@edge against tiny-cnn:identity@edge" in html
    assert "tiny-bert:dptq@edge: fp32 against int8 per operator" in html
    assert "Where each cell's model time goes" in (run / "summary.md").read_text()
    shown = _cli("analyze", str(run), "--profile", "tiny-cnn:sptq@edge")
    assert shown.returncode == 0, shown.stderr
    assert "fp32 (tiny-cnn:identity@edge) against int8" in shown.stdout and "Footprint per tier" in shown.stdout
    as_json = json.loads(_cli("analyze", str(run), "--profile", "tiny-bert:partition@mobile-edge", "--json").stdout)
    assert [p["tier"] for p in as_json["footprint"]] == ["mobile", "edge"]
    missing = _cli("analyze", str(run), "--profile", "tiny-cnn:qat@edge")
    assert missing.returncode == 2 and "no cell named" in (missing.stdout + missing.stderr)


def test_a_cell_that_meets_latency_fails_on_memory_and_the_recommendation_respects_both(run):
    rs = load_results(run)
    peaks = sorted(max(p["peak_rss_mb"] for p in c.memory["parts"]) for c in rs.cells if c.subject == "tiny-cnn")
    bound = (peaks[0] + peaks[-1]) / 2 if peaks[-1] - peaks[0] > 1 else peaks[0] - 1
    loose = recommend(rs, max_latency_ms=1000, percentile=50, max_accuracy_drop=5.0)
    tight = recommend(rs, max_latency_ms=1000, percentile=50, max_accuracy_drop=5.0, max_memory_mb=bound,
                      max_model_mb=100)
    met_before = {v.cell for v in loose.verdicts if v.status == "meets"}
    over = [v for v in tight.ranked("tiny-cnn") if v.memory_mb > bound]
    assert over and all(v.status == "fails" and v.cell in met_before for v in over)  # met latency, fails memory
    assert all("peak memory" in " ".join(v.reasons) for v in over)
    best = tight.best("tiny-cnn")
    assert best is None or best.memory_mb <= bound
    command = _cli("recommend", str(run), "--max-latency-ms", "1000", "--percentile", "50",
                   "--max-accuracy-drop", "5", "--max-memory-mb", f"{bound:.3f}", "--json")
    ranking = json.loads(command.stdout)["subjects"]["tiny-cnn"]["ranking"]
    assert {r["cell"] for r in ranking if r["status"] == "fails"} >= {v.cell for v in over}
