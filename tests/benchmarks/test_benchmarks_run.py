"""Each benchmark runs with --quick as a real process and writes valid JSON with its figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.report.synthetic import synthetic_results

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, out: Path, *args: str, timeout: int = 300) -> dict:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--out", str(out), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"wrote {out}" in proc.stdout
    return json.loads(out.read_text())


def test_transport_loopback(tmp_path):
    data = run_bench("bench_transport.py", tmp_path / "t.json", "--no-shaped")
    rows = {r["payload"]: r for r in data["loopback"]}
    assert set(rows) == {"4KB", "600KB"}
    for r in rows.values():
        assert 0 < r["inprocess_s"]["median"] < r["edgewise_s"]["median"]
        # JSON + base64 + a session per request costs more than the binary frame, at every size
        assert r["reference_overhead_s"]["median"] > r["edgewise_overhead_s"]["median"] > 0
    assert isinstance(data["overhead_goal_met"], bool)
    one_core = data["loopback_one_core"]  # the same 4 KB round trips with every process on one core
    assert [r["payload"] for r in one_core["rows"]] == ["4KB"]
    assert 0 < one_core["rows"][0]["bare_s"]["median"] < one_core["rows"][0]["edgewise_s"]["median"]
    assert isinstance(one_core["rows"][0]["fixed_overhead_goal_met"], bool)
    assert data["shaped"] is None


def test_operators_from_results(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(synthetic_results(["s1"], ["identity", "sptq"], ["mobile", "edge"])))
    rows = run_bench("bench_operators.py", tmp_path / "o.json", "--results", str(results))["rows"]
    assert {(r["chain"], r["placement"]) for r in rows} == {("sptq", "mobile"), ("sptq", "edge")}
    for r in rows:
        assert r["ci_low"] <= r["speedup"] <= r["ci_high"]
        assert r["drop_points"] is not None


def test_operators_without_results(tmp_path):
    data = run_bench("bench_operators.py", tmp_path / "o.json", "--results", str(tmp_path / "absent.json"))
    assert data["skipped"] == "results file absent"


@pytest.mark.slow  # the emulation's figures are checked in make test by tests/testbeds
@pytest.mark.skipif(os.geteuid() != 0, reason="the linux testbed needs root")
def test_emulation_quick(tmp_path):
    data = run_bench("bench_emulation.py", tmp_path / "e.json", "--presets", "realistic")
    rows = {r["name"]: r for r in data["presets"]["realistic"]}
    assert rows["rtt:mobile-edge"]["requested"] == pytest.approx(10.0)
    assert rows["bandwidth:mobile-edge:up"]["achieved"]["median"] > 0
    spin = rows["cpu_spin:mobile"]  # the tier's quota caps a spinner at its share
    assert 0 < spin["achieved"]["median"] <= spin["requested"] * 1.1
    assert isinstance(rows["rtt:edge-cloud"]["inside"], bool)


@pytest.mark.slow
def test_study_quick(tmp_path):
    data = run_bench("bench_study.py", tmp_path / "s.json", timeout=600)
    assert data["study"]["fresh_s"]["median"] > data["study"]["cached_s"]["median"] > 0
    assert len(data["per_cell"]["points"]) == 2 and len(data["per_input"]["points"]) == 2


@pytest.mark.slow  # make bench runs it in full; make test runs every family's surgery (tests/operators)
def test_families_quick(tmp_path):
    # An encoder, a windowed vision transformer and a CNN (a decoder's surgery: tests/operators/test_families_*).
    data = run_bench("bench_families.py", tmp_path / "f.json", "electra", "swin", "depthwise-cnn")
    rows = {r["family"]: r for r in data["rows"]}
    assert set(rows) == {"electra", "swin", "depthwise-cnn"}
    assert rows["electra"]["pruned"]["heads_per_layer"] == [2, 2]
    assert rows["electra"]["student"] == "1 of 2 layers of the teacher"
    assert rows["electra"]["parameters"]["pruned"] < rows["electra"]["parameters"]["teacher"]
    assert rows["swin"]["student"] == "2 of 4 blocks of the teacher, each of its 2 stages shortened (2+2 -> 1+1)"
    assert all(r["teacher_ms"] > 0 and r["prune_speedup"] > 0 and r["distill_speedup"] > 0 for r in rows.values())
    assert set(rows["electra"]["meets_target"]) == set(rows["swin"]["meets_target"]) == {"prune", "distill"}
    assert data["cpu"] and "meets_target" not in rows["depthwise-cnn"]
    for r in rows.values():  # the operators built on the family's small trained model, and what they lost
        drop = r["drop"]
        assert 0 < drop["teacher"] <= 1 and drop["evaluation_samples"] > 0
        assert abs(drop["prune"]["drop_points"] - 100 * (drop["teacher"] - drop["prune"]["accuracy"])) < 0.05
        assert 0 <= drop["distill"]["accuracy"] <= 1


@pytest.mark.slow
def test_training_layout(tmp_path):
    rows = {r["what"]: r for r in run_bench("bench_training.py", tmp_path / "tr.json")["rows"]}
    assert set(rows) == {"predict per image", "teacher train step", "student train step", "teacher train step, precision",
                         "MiniLM train step, precision", "AdamW step (MiniLM size)"}
    for r in rows.values():
        assert r["before_ms"] > 0 and r["after_ms"] > 0
        assert r["speedup"]["min"] <= r["speedup"]["median"] <= r["speedup"]["max"]


def test_quantization_quick(tmp_path):
    """sptq before node-level control (built by the baseline commit's code), sptq now and dptq, side by side."""
    data = run_bench("bench_quantization.py", tmp_path / "q.json", "--cache", str(tmp_path / "cache"), timeout=900)
    rows = {r["subject"]: r for r in data["rows"]}
    assert set(rows) == {"tiny-cnn", "tiny-bert"} and data["threads"] == 1 and data["cpu"]
    assert set(rows["tiny-bert"]["variants"]) == {"fp32", "sptq before", "sptq now", "dptq"}
    assert "dptq" not in rows["tiny-cnn"]["variants"]  # dynamic int8 is offered to transformers here
    for row in rows.values():
        for variant in row["variants"].values():
            assert variant["ms"]["median"] > 0 and variant["speedup"] > 0
        assert row["variants"]["sptq before"]["label"] and row["variants"]["sptq now"]["label"]
        assert isinstance(row["never_slower"], bool)
    assert set(data["goals"]) == {"sptq_now_never_slower", "sptq_now_within_1_point", "bert_dptq_2x_within_1_point"}


def test_runtimes_quick(tmp_path):
    data = run_bench("bench_runtimes.py", tmp_path / "r.json", "tiny-cnn", timeout=900)
    assert data["cpu"] and data["threads"] == 1
    (entry,) = data["subjects"]
    assert entry["failed"] == {}
    assert set(entry["ms"]["fp32"]) == {"onnxruntime", "openvino", "openvino[precision=bf16]", "executorch"}
    assert set(entry["ms"]["int8"]) == {"onnxruntime", "openvino", "onnxruntime (openvino's graph)", "executorch"}
    assert entry["artifacts"]["openvino int8"] != entry["artifacts"]["onnxruntime int8"]
    for figures in entry["ms"].values():
        assert all(0 < f["min"] <= f["median"] <= f["max"] and f["rounds"] == 3 for f in figures.values())
