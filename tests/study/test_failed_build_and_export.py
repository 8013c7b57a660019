"""One cell's build raises: that cell fails with its reason, every other cell is measured; then
`edgewise export` ships measured cells (one file, and head + tail) that reproduce the artifacts.

Two user ONNX subjects (no training) on the local testbed keep the study to seconds.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest

from edgewise.building.artifacts import Artifact, ArtifactCache
from edgewise.config import StudyConfig
from edgewise.data.preprocess import build_preprocessor
from edgewise.errors import ArtifactError, PlanError
from edgewise.operators.base import OPERATORS, BuildContext, Operator
from edgewise.output.shipping import export_cell
from edgewise.runtimes.runner import ArtifactRunner
from edgewise.study import RunOptions, Study
from tests.reliability.helpers import cli, linear_onnx, png_bytes, png_folder, user_subject

INPUTS = 3


@pytest.fixture(scope="module")
def refusing_operator():
    """An operator that refuses subject 'b' with an EdgewiseError and copies every other model."""

    class RefusesB(Operator):
        name = "refuses-b"
        requires = frozenset({"onnx", "float"})
        produces = frozenset({"onnx", "float"})
        description = "copies the model; refuses subject b"

        def apply(self, artifact: Artifact, ctx: BuildContext) -> Artifact:
            if ctx.subject.name == "b":
                raise ArtifactError("refuses-b cannot transform subject b", "leave b out of refuses-b cells")
            shutil.copyfile(artifact.onnx, ctx.workdir / "model.onnx")
            return Artifact(artifact.subject, artifact.chain, (ctx.workdir / "model.onnx",), None, frozenset(), {})

    yield RefusesB
    OPERATORS.pop(RefusesB.name, None)


@pytest.fixture(scope="module")
def run(tmp_path_factory, refusing_operator):
    tmp = tmp_path_factory.mktemp("failing")
    images = png_folder(tmp / "images", n=20)
    subjects = [user_subject(n, linear_onnx(tmp / f"{n}.onnx"), images) for n in ("a", "b")]
    config = StudyConfig(**{
        "name": "one-fails", "subjects": subjects,
        "cells": [{"chains": ["identity", "refuses-b"], "placements": ["edge"]},
                  {"chains": ["partition"], "placements": ["mobile-edge"], "subjects": ["a"]}],
        "testbed": {"kind": "local", "preset": "paper-scaled", "verify": False},
        "measure": {"inputs": INPUTS, "passes": 2, "warmup_passes": 1},
        "operators": {"partition": {"max_candidates": 2, "profile_runs": 1}}, "seed": 0})
    out, cache = tmp / "run", tmp / "cache"
    Study.open(config, RunOptions(out=out, profile=None, cache_dir=cache, log=lambda m: None)).run()
    return out, cache


def test_a_failed_build_fails_its_cell_and_the_study_goes_on(run):
    out, _ = run
    cells = {c["cell"]: c for c in json.loads((out / "results.json").read_text())["cells"]}
    failed = cells.pop("b:refuses-b@edge")
    assert failed["status"] == "failed" and failed["latency_s"] == [], failed
    assert "refuses-b cannot transform subject b" in failed["error"]
    assert "fix: leave b out of refuses-b cells" in failed["error"]
    assert set(cells) == {"a:identity@edge", "b:identity@edge", "a:refuses-b@edge", "a:partition@mobile-edge"}
    for cell in cells.values():
        assert cell["status"] == "ok" and len(cell["latency_s"]) == INPUTS, cell
        assert cell["accuracy"] == {"agreement": 1.0}, cell  # copies and exact splits agree with the model
    summary = (out / "summary.md").read_text()
    section = summary[summary.index("## Cells not measured"):]
    assert "b:refuses-b@edge" in section and "refuses-b cannot transform subject b" in section
    assert "Cells not measured" in (out / "report.html").read_text()


@pytest.mark.parametrize("cell", ["a:identity@edge", "a:partition@mobile-edge"])
def test_export_reproduces_the_cells_artifact(run, tmp_path, cell):
    out, cache = run
    written = export_cell(out, cell, tmp_path / "ship", cache)
    record = json.loads((tmp_path / "ship" / "provenance.json").read_text())
    results = {c["cell"]: c for c in json.loads((out / "results.json").read_text())["cells"]}[cell]
    assert record["cell"] == cell and record["artifact"]["key"] == results["artifact"]["key"]
    assert record["chain"] == [results["chain"]] and record["accuracy"]["values"] == results["accuracy"]
    latency = record["latency_ms"]
    assert latency["samples"] == INPUTS and latency["median_ci"][0] <= latency["median"] <= latency["median_ci"][1]
    assert latency["median"] == pytest.approx(np.median(results["latency_s"]) * 1e3)
    assert record["preprocessing"]["kind"] == "image" and record["preprocessing"]["input"] == "pixel_values"
    split = cell.endswith("mobile-edge")
    assert [p.name for p in written] == (["head.onnx", "tail.onnx"] if split else ["model.onnx"]) + ["provenance.json"]
    if split:
        assert record["operators"][0]["name"] == "partition" and record["operators"][0]["params"]["max_candidates"] == 2

    # What a user deploys: the provenance's preprocessing, then the exported file(s) in plain ONNX Runtime.
    feeds = build_preprocessor(record["preprocessing"])(png_bytes(3))
    values = dict(feeds)
    for name in record["files"]["parts"]:
        session = ort.InferenceSession(str(tmp_path / "ship" / name), providers=["CPUExecutionProvider"])
        outs = session.run(None, {i.name: values[i.name] for i in session.get_inputs()})
        values.update({o.name: v for o, v in zip(session.get_outputs(), outs)})
    artifact = ArtifactCache(cache / "artifacts").get(results["artifact"]["key"])
    assert np.array_equal(outs[0], ArtifactRunner(artifact.parts)(feeds))


def test_export_names_close_cells_and_refuses_a_failed_one(run, tmp_path):
    out, cache = run
    with pytest.raises(PlanError, match="did you mean: a:identity@edge"):
        export_cell(out, "a:identity@edg", tmp_path, cache)
    with pytest.raises(ArtifactError, match="no model to export: build failed: refuses-b cannot"):
        export_cell(out, "b:refuses-b@edge", tmp_path, cache)
    with pytest.raises(ArtifactError, match="pass --cache"):
        export_cell(out, "a:identity@edge", tmp_path, tmp_path / "elsewhere")


def test_export_command_line(run, tmp_path):
    out, cache = run
    done = cli("export", str(out), "a:identity@edge", "--out", str(tmp_path / "ship"), "--cache", str(cache))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ship" / "model.onnx").is_file() and (tmp_path / "ship" / "provenance.json").is_file()
    wrong = cli("export", str(out), "a:sptq@edge", "--out", str(tmp_path / "x"), "--cache", str(cache))
    assert wrong.returncode == 2 and "no cell 'a:sptq@edge'" in wrong.stderr
