"""docs/your-model.md as a user meets it: every example study in it runs through `edgewise run` on
models and data written where it names them (the measurement and the operators' timing runs
shortened, the testbed's verification skipped), its key tables match the code, and its promises
about mismatches hold."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import yaml

from edgewise.config import StudyConfig
from edgewise.errors import ConfigError, DataError, PlanError
from edgewise.subjects.keys import INPUT_KEYS, OPTION_KEYS
from edgewise.subjects.user import make_subject
from tests.subjects.own_models import SIZE, static_batch_onnx, write_all

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "your-model.md"
EXAMPLES = dict(re.findall(r"<!-- example: ([\w-]+) -->\s*```yaml\n(.*?)```", DOC.read_text(), re.S))
SHORT = {"measure": {"inputs": 3, "passes": 2, "warmup_passes": 1},
         "operators": {"sptq": {"latency_runs": 3, "calibration_size": 8},
                       "partition": {"max_candidates": 2, "profile_runs": 1}}}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("your-model")
    write_all(root)
    return root


def _run(workspace: Path, name: str) -> dict:
    study = {**yaml.safe_load(EXAMPLES[name]), **SHORT}
    study["testbed"] = {**study["testbed"], "verify": False}  # its figures are tests/testbeds' business
    (workspace / f"{name}.yaml").write_text(yaml.safe_dump(study))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), str(workspace)])}
    done = subprocess.run([sys.executable, "-m", "edgewise.cli", "run", f"{name}.yaml", "--out", f"runs/{name}",
                           "--cache", "cache", "--profile", "paper"], capture_output=True, text=True, cwd=workspace,
                          env=env, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return json.loads((workspace / "runs" / name / "results.json").read_text())


def test_the_doc_has_its_three_examples():
    assert set(EXAMPLES) == {"onnx-static-batch", "torch-factory", "hf-text"}


# make test runs one example; the others run in make test-all (make test runs a torch factory through every
# chain in tests/subjects/test_model_families.py, depthwise-cnn, and a transformers text classifier in
# tests/operators/test_families_study.py, qwen2).
@pytest.mark.parametrize("name", ["onnx-static-batch", pytest.param("torch-factory", marks=pytest.mark.slow),
                                  pytest.param("hf-text", marks=pytest.mark.slow)])
def test_doc_example_runs_every_cell(workspace, name):
    results = _run(workspace, name)
    cells = {c["cell"]: c for c in results["cells"]}
    planned = StudyConfig(**yaml.safe_load(EXAMPLES[name]))
    assert len(cells) == sum(len(g.chains) * len(g.placements) for g in planned.cells)
    for cell in cells.values():
        assert cell["status"] == "ok" and len(cell["latency_s"]) == 3, cell
        assert cell["accuracy"][cell["metric"]] >= 0.0
    if name == "onnx-static-batch":
        # A graph fixed at batch 1, evaluated and calibrated one sample at a time, split and quantized.
        assert cells["classifier:identity@edge"]["accuracy"] == {"agreement": 1.0}
        assert cells["classifier:sptq+partition@mobile-edge"]["artifact"]["parts"] == 2
    if name == "torch-factory":
        assert cells["depthwise:identity@edge"]["accuracy"]["top1"] >= 0.9  # red vs blue, trained in the test
        key = cells["depthwise:identity@edge"]["artifact"]["key"]
        graph = onnx.load(str(workspace / "cache" / "artifacts" / key / "model.onnx"))
        assert [i.name for i in graph.graph.input] == ["x"]  # forward(self, x): exported under its own name
    if name == "hf-text":
        assert cells["reviews:identity@edge"]["metric"] == "accuracy"
        _export_reproduces_a_text_cell(workspace, "reviews:sptq@edge")


def _export_reproduces_a_text_cell(workspace: Path, cell: str) -> None:
    """The shipped model, fed by the shipped tokenizer, answers as the measured artifact does."""
    import numpy as np
    import onnxruntime as ort

    from edgewise.building.artifacts import ArtifactCache
    from edgewise.data.preprocess import build_preprocessor
    from edgewise.output.shipping import export_cell
    from edgewise.runtimes.runner import ArtifactRunner

    ship = workspace / "ship"
    export_cell(workspace / "runs" / "hf-text", cell, ship, workspace / "cache")
    record = json.loads((ship / "provenance.json").read_text())
    spec = record["preprocessing"]
    assert spec["tokenizer"] == "tokenizer.json" and spec["max_length"] == 32
    feeds = build_preprocessor({**spec, "tokenizer": str(ship / spec["tokenizer"])})("a great film".encode())
    session = ort.InferenceSession(str(ship / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})[0]
    artifact = ArtifactCache(workspace / "cache" / "artifacts").get(record["artifact"]["key"])
    assert np.array_equal(got, ArtifactRunner(artifact.parts)(feeds))


def test_white_box_chains_on_an_onnx_subject_are_refused_at_plan_time():
    from edgewise.planning.plan import plan_cells

    study = yaml.safe_load(EXAMPLES["onnx-static-batch"])
    for chain in ("qat", "prune", "distill", "distill+sptq"):
        config = StudyConfig(**{**study, "cells": [{"chains": [chain], "placements": ["edge"]}]})
        with pytest.raises(PlanError, match="needs a trainable PyTorch model"):
            plan_cells(config, {"classifier"})


def test_the_key_tables_are_the_codes():
    text = DOC.read_text()
    for key, meaning in {**INPUT_KEYS, **OPTION_KEYS}.items():
        assert f"| `{key}` | {meaning} |" in text, key


def _subject(workspace: Path, subject_ctx, **fields):
    entry = {"name": "mine", "onnx": str(workspace / "models" / "classifier-b1.onnx"),
             "data": str(workspace / "photos"), "input": {"size": [SIZE, SIZE]}, **fields}
    return make_subject(entry, subject_ctx)


def test_a_mismatch_names_the_key_that_fixes_it(workspace, subject_ctx, monkeypatch):
    cases = [({"input": {"size": [28, 28]}}, "set input.size: [32, 32]"),
             ({"input": {"size": [SIZE, SIZE], "channels": 1}}, "set input.channels: 3")]
    for fields, hint in cases:
        with pytest.raises(DataError) as err:
            _subject(workspace, subject_ctx, **fields).splits()
        assert err.value.hint == hint and "does not accept the data" in err.value.message
    monkeypatch.syspath_prepend(str(workspace))
    torch_entry = {"onnx": None, "torch": "mymodels.depthwise:make", "data": str(workspace / "labeled-photos")}
    with pytest.raises(DataError) as err:
        _subject(workspace, subject_ctx, **torch_entry, input={"size": SIZE, "name": "pixel_values"}).splits()
    assert err.value.hint.startswith("set input.name to the argument forward() takes (x)"), err.value.hint
    with pytest.raises(DataError, match="fixes the batch at 8"):
        batch8 = static_batch_onnx(workspace / "models" / "b8.onnx", batch=8)
        _subject(workspace, subject_ctx, onnx=str(batch8)).splits()
    with pytest.raises(ConfigError, match=r"unknown input key\(s\) \['resize'\]"):
        _subject(workspace, subject_ctx, input={"size": SIZE, "resize": 30})


def test_input_names_are_read_from_the_model(workspace, subject_ctx, monkeypatch):
    assert _subject(workspace, subject_ctx).input_names == ("image",)
    monkeypatch.syspath_prepend(str(workspace))
    mine = _subject(workspace, subject_ctx, onnx=None, torch="mymodels.depthwise:make",
                    data=str(workspace / "labeled-photos"))
    assert mine.input_names == ("x",) and mine.preprocessing()["input"] == "x"
    hf = make_subject({"name": "r", "task": "text-classification",
                       "hf": str(workspace / "models" / "review-classifier"), "data": str(workspace / "reviews.jsonl")},
                      subject_ctx)
    assert hf.input_names == ("input_ids", "attention_mask")


def test_a_text_mismatch_names_the_key_that_fixes_it(workspace, subject_ctx, tmp_path):
    entry = {"name": "r", "task": "text-classification", "hf": str(workspace / "models" / "review-classifier"),
             "data": str(workspace / "reviews.jsonl")}
    with pytest.raises(DataError) as err:
        make_subject({**entry, "input": {"max_length": 100}}, subject_ctx).splits()
    assert err.value.hint == "set input.max_length: 64 (or less)", err.value
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = [f"w{i}" for i in range(200)] + ["[PAD]", "[UNK]", "good", "bad"]  # ids past the model's 26 words
    other = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    other.pre_tokenizer = pre_tokenizers.Whitespace()
    other.save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(DataError) as err:
        make_subject({**entry, "input": {"max_length": 16, "tokenizer": str(tmp_path)}}, subject_ctx).splits()
    assert err.value.hint == "set input.tokenizer to the model's own tokenizer.json", err.value
