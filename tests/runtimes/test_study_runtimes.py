"""The runtime as a dimension of a study, end to end on tiny-cnn with real tier servers: every runtime's cells
are built in its form, scored through it, served and named; a runtime that cannot load an artifact fails
its own cell; export ships each runtime's own files, which load in that runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgewise.config import StudyConfig, identity_dump
from edgewise.errors import PlanError
from edgewise.output.shipping import export_cell
from edgewise.planning.plan import Cell, plan_cells
from edgewise.runtimes.base import RUNTIMES, Runtime, RuntimeSession, runtime_class
from edgewise.study import RunOptions, Study
from tests.reliability.helpers import linear_onnx, png_folder, user_subject

RUNTIMES_OF_STUDY = ["onnxruntime", "openvino", "openvino[precision=bf16]", "executorch"]


class Brittle(Runtime):
    """Loads nothing: what a runtime does with an artifact it cannot read."""

    name = "brittle"
    description = "fails every load"

    def load(self, path: Path, threads: int, io=None) -> RuntimeSession:
        raise RuntimeError(f"brittle cannot read {Path(path).name}")


def _config(**extra) -> StudyConfig:
    return StudyConfig(**{
        "name": "runtimes", "subjects": ["tiny-cnn"],
        "cells": [{"chains": ["identity", "sptq"], "placements": ["edge"],
                   "runtimes": [*RUNTIMES_OF_STUDY, "brittle"]}],
        "testbed": {"kind": "local", "preset": "paper-scaled", "verify": False},
        "measure": {"inputs": 3, "passes": 2, "warmup_passes": 1}, "seed": 0, **extra})


@pytest.fixture(scope="module")
def run(tmp_path_factory, cache_dir):
    out = tmp_path_factory.mktemp("runtimes") / "run"
    Study.open(_config(), RunOptions(out=out, profile="quick", cache_dir=cache_dir, log=lambda m: None)).run()
    yield out, cache_dir
    RUNTIMES.pop("brittle", None)


def test_every_runtime_is_measured_and_named(run):
    out, _ = run
    results = json.loads((out / "results.json").read_text())
    cells = {c["cell"]: c for c in results["cells"]}
    for chain in ("identity", "sptq"):
        assert cells[f"tiny-cnn:{chain}@edge"]["status"] == "ok"  # the default keeps its name
        for runtime in RUNTIMES_OF_STUDY[1:]:
            cell = cells[f"tiny-cnn:{chain}@edge/{runtime}"]
            assert cell["status"] == "ok", cell["error"]
            assert cell["runtime"] == runtime and len(cell["latency_s"]) == 3
            assert cell["accuracy"]["top1"] >= 0.9
    pte = cells["tiny-cnn:sptq@edge/executorch"]["artifact"]
    assert pte["meta"]["runtime"] == "executorch" and pte["meta"]["int8"] is True
    # OpenVINO reads sptq's QDQ graphs only: its cells build sptq in that format, keyed apart.
    openvino_int8 = cells["tiny-cnn:sptq@edge/openvino"]["artifact"]
    assert openvino_int8["meta"]["format"] == "qdq" and openvino_int8["meta"]["quantized_nodes"]
    assert set(results["study"]["runtimes"]) >= set(RUNTIMES_OF_STUDY)
    assert "## The fastest runtime per subject and tier" in (out / "summary.md").read_text()


def test_the_build_graph_keys_each_cell_as_its_runtime_builds_it(run):
    """The steps a lane or a Ray worker builds carry the cell's runtime: their keys are the in-process build's,
    and a worker rebuilding a step (here: finding it in the cache) reaches the same key."""
    from edgewise.executors.graph import build_one, plan_steps

    out, cache = run
    cells = {c["cell"]: c for c in json.loads((out / "results.json").read_text())["cells"]}
    study = Study.open(_config(), RunOptions(out=out, profile="quick", cache_dir=cache, log=lambda m: None))
    steps, final = plan_steps(study.workshop, study.plan())
    for name, key in final.items():
        if cells[name]["status"] == "ok":
            assert cells[name]["artifact"]["key"] == key, name
    assert final["tiny-cnn:sptq@edge/openvino"] != final["tiny-cnn:sptq@edge"]
    for step in steps.values():
        if step.names:
            assert build_one(study.workshop, step.subject, step.cell, list(step.names), step.key).key == step.key


def test_the_recommendation_and_the_report_name_the_runtime(run):
    from edgewise.analysis import load_results, recommend

    out, _ = run
    rec = recommend(load_results(out), max_latency_ms=1000, max_accuracy_drop=100)
    best = rec.best("tiny-cnn")
    assert best is not None and best.runtime == Cell.parse(best.cell).runtime_choice.label
    assert rec.to_dict()["subjects"]["tiny-cnn"]["best_runtime"] == best.runtime
    assert {v.runtime for v in rec.verdicts} == {*RUNTIMES_OF_STUDY, "brittle"}
    # bf16 changes predictions: its identity is judged against the model as ONNX Runtime serves it.
    bf16 = next(v for v in rec.verdicts if v.cell == "tiny-cnn:identity@edge/openvino[precision=bf16]")
    assert bf16.accuracy_drop is not None and bf16.accuracy_drop.baseline == "tiny-cnn:identity@edge"
    summary = (out / "summary.md").read_text()
    headers = [line for line in summary.splitlines() if line.startswith("| subject | chain | placement |")]
    assert len(headers) == 2 and all("| runtime |" in h for h in headers)  # the recommendation, the latencies
    assert "| chain | placement | runtime | min × |" in summary


def test_a_runtime_that_cannot_load_fails_its_own_cell_only(run):
    out, _ = run
    cells = {c["cell"]: c for c in json.loads((out / "results.json").read_text())["cells"]}
    brittle = [c for name, c in cells.items() if name.endswith("/brittle")]
    assert len(brittle) == 2 and all(c["status"] == "failed" and "brittle cannot read" in c["error"] for c in brittle)
    assert sum(c["status"] == "ok" for c in cells.values()) == 8


def test_accuracy_is_scored_through_the_cells_runtime(run):
    out, _ = run
    cells = {c["cell"]: c for c in json.loads((out / "results.json").read_text())["cells"]}
    ort, bf16 = cells["tiny-cnn:identity@edge"], cells["tiny-cnn:identity@edge/openvino[precision=bf16]"]
    assert ort["correct"] is not None and bf16["correct"] is not None
    from edgewise.output.store import Store

    store = Store(out / "study.sqlite")
    try:
        key = ort["artifact"]["key"]
        assert store.accuracy(key) is not None and store.accuracy(f"{key}@openvino[precision=bf16]") is not None
    finally:
        store.close()


@pytest.mark.parametrize("cell,files", [("tiny-cnn:sptq@edge/openvino", ["model.xml", "model.bin"]),
                                        ("tiny-cnn:sptq@edge/executorch", ["model.pte"])])
def test_export_ships_files_that_load_in_their_runtime(run, tmp_path, cell, files):
    out, cache = run
    written = export_cell(out, cell, tmp_path, cache)
    assert [p.name for p in written[:len(files)]] == files
    record = json.loads((tmp_path / "provenance.json").read_text())
    name = Cell.parse(cell).runtime_choice.name
    assert record["runtime"]["name"] == name and record["runtime"]["version"]
    runtime = runtime_class(name)()
    session = runtime.load(tmp_path / files[0], 1, record["runtime"]["io"])
    x = np.random.default_rng(0).standard_normal((1, *[d or 1 for d in session.inputs[0].shape[1:]]))
    logits = session.run({session.inputs[0].name: x.astype(np.float32)})[0]
    assert logits.shape[0] == 1 and np.isfinite(logits).all()


def test_a_study_without_runtimes_keeps_its_fingerprint_and_names():
    plain = _config(cells=[{"chains": ["identity"], "placements": ["edge"]}])
    named = _config(cells=[{"chains": ["identity"], "placements": ["edge"], "runtimes": ["onnxruntime"]}])
    dump = identity_dump(plain)
    assert "runtimes" not in dump and all("runtimes" not in g for g in dump["cells"])
    assert [c.name for c in plan_cells(plain)] == [c.name for c in plan_cells(named)] == ["tiny-cnn:identity@edge"]


def test_what_a_runtime_cannot_serve_is_refused_at_plan_time(tmp_path):
    images = png_folder(tmp_path / "images", n=4)
    onnx_only = user_subject("mine", linear_onnx(tmp_path / "mine.onnx"), images)
    config = StudyConfig(**{"name": "refused", "subjects": [onnx_only],
                            "cells": [{"chains": ["identity"], "placements": ["edge"], "runtimes": ["executorch"]}],
                            "testbed": {"kind": "local"}})
    with pytest.raises(PlanError, match="executorch lowers a PyTorch model"):
        plan_cells(config, {"mine"})
    split = _config(cells=[{"chains": ["partition"], "placements": ["mobile-edge"], "runtimes": ["executorch"]}])
    with pytest.raises(PlanError, match="head and tail"):
        plan_cells(split)
    offered = _config(testbed={"kind": "local", "tiers": {"edge": {"cpus": 1, "memory_mb": 512,
                                                                   "runtimes": ["onnxruntime"]}}})
    with pytest.raises(PlanError, match="does not offer runtime 'openvino'"):
        plan_cells(offered)
    qoperator = _config(cells=[{"chains": ["sptq[quant_format=qoperator]"], "placements": ["edge"],
                                "runtimes": ["onnxruntime", "openvino"]}])
    with pytest.raises(PlanError, match="openvino cannot serve sptq with quant_format=qoperator"):
        plan_cells(qoperator)
    studywide = _config(cells=[{"chains": ["sptq"], "placements": ["edge"], "runtimes": ["openvino"]}],
                        operators={"sptq": {"quant_format": "qoperator"}})
    with pytest.raises(PlanError, match="QDQ format"):
        plan_cells(studywide)
    with pytest.raises(Exception, match="precision"):
        plan_cells(_config(cells=[{"chains": ["identity"], "placements": ["edge"],
                                   "runtimes": ["openvino[precision=int4]"]}]))


def test_a_tier_refuses_a_load_its_runtime_cannot_read_and_serves_on(tmp_path):
    from edgewise.errors import EdgewiseError
    from edgewise.tiers.client import TierClient
    from edgewise.tiers.server import ServerConfig, TierServer

    model = linear_onnx(tmp_path / "m.onnx")
    server = TierServer(ServerConfig(tier="mobile", providers=["CPUExecutionProvider"])).start()
    client = TierClient({"mobile": server.address}, timeout_s=30)
    try:
        with pytest.raises(EdgewiseError, match="executorch cannot load"):
            client.load("mobile", "x", model, "full", None, runtime={"name": "executorch", "settings": {}})
        reply = client.load("mobile", "x", model, "full", None, runtime={"name": "openvino", "settings": {}})
        assert reply["runtime"] == "openvino" and list(server.artifacts) == ["x/full"]
    finally:
        client.close()
        server.stop()

