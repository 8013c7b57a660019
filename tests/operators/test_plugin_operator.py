"""Adding an operator is one file: a module declared in the `edgewise.operators` entry-point group is planned,
built, measured and shown in the report (kind, colour, order) with no other edit to edgewise.

The plug-in lives in a temporary folder with its own dist-info, as `pip install` of a third party's package
would leave it; only the study's process sees it, so the report below reads the chain's facts from
results.json alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edgewise.operators import OPERATORS

PLUGIN = '''
"""A toy operator: dynamic int8 quantization of the weights (ONNX Runtime)."""
from edgewise.building.artifacts import Artifact
from edgewise.operators.base import BuildContext, Operator


class ToyDynamicInt8(Operator):
    name = "toy-dynq"
    kind = "black"
    display_order = 5  # just after identity, before sptq: the report must not sort it by name
    requires = frozenset({"onnx", "float"})
    produces = frozenset({"onnx"})
    description = "dynamic int8 weights (a plug-in)"

    def apply(self, artifact: Artifact, ctx: BuildContext) -> Artifact:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        out = ctx.workdir / "model.onnx"
        quantize_dynamic(str(artifact.onnx), str(out), weight_type=QuantType.QInt8)
        return Artifact(artifact.subject, artifact.chain, (out,), None, frozenset(), {"plugin": True})
'''


def install_plugin(folder: Path) -> Path:
    """The module and the dist-info an installed package declaring it would leave on sys.path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "toy_dynq.py").write_text(PLUGIN)
    info = folder / "toy_dynq-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-dynq\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[edgewise.operators]\ntoy-dynq = toy_dynq\n")
    return folder


@pytest.fixture(scope="module")
def study_run(tmp_path_factory, cache_dir) -> Path:
    tmp = tmp_path_factory.mktemp("plugin")
    plugins = install_plugin(tmp / "site")
    study = {"name": "plugin", "subjects": ["tiny-cnn"],
             "cells": [{"chains": ["identity", "sptq", "toy-dynq"], "placements": ["mobile"]}],
             "testbed": {"kind": "local", "preset": "paper-scaled", "verify": False},  # emulation fidelity is not what this test checks
             "measure": {"inputs": 3, "passes": 2, "warmup_passes": 1}, "seed": 0}
    (tmp / "study.yaml").write_text(yaml.safe_dump(study))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])}
    out = tmp / "run"
    proc = subprocess.run([sys.executable, "-m", "edgewise.cli", "run", str(tmp / "study.yaml"), "--out", str(out),
                           "--cache", str(cache_dir)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_the_plugin_is_not_known_to_this_process():
    """So the report checks below prove the facts travel in results.json."""
    assert "toy-dynq" not in OPERATORS


def test_plugin_chain_is_planned_built_and_measured(study_run):
    results = json.loads((study_run / "results.json").read_text())
    cell = next(c for c in results["cells"] if c["chain"] == "toy-dynq")
    assert cell["status"] == "ok", cell
    assert len(cell["latency_s"]) == 3 and cell["accuracy"][cell["metric"]] > 0.5
    assert cell["artifact"]["meta"]["plugin"] is True
    assert results["study"]["chains"]["toy-dynq"] == {"kind": "black", "order": [5], "int8": True, "split": False, "acts_on": []}


def test_report_shows_the_plugin_chain_by_its_declared_kind_order_and_colour(study_run):
    from edgewise.analysis import load_results
    from edgewise.report.html import build_context
    from edgewise.report.plots import chain_order_key
    from edgewise.report.source import chain_facts, default_reference
    from edgewise.report.tables import speedup_rows
    from edgewise.sla import Sla

    results = load_results(study_run)
    ctx = build_context(results, [], Sla.of(results.study))
    order = sorted(results.chains, key=lambda c: chain_order_key(c, results))
    assert order == ["identity", "toy-dynq", "sptq"]  # display_order 5 sorts before sptq (10), not by name
    assert len(set(ctx.colours.values())) == len(ctx.colours), "every chain has a colour of its own"
    assert [row[0] for row in speedup_rows(results, ctx.analyses)[1]] == ["toy-dynq", "sptq"]
    assert chain_facts("toy-dynq", results)["int8"] and chain_facts("toy-dynq", results)["kind"] == "black"
    assert [p.name for p in default_reference(results)] == ["blackbox-2403.17154-latency.csv"]
    html = (study_run / "report.html").read_text()
    assert "toy-dynq" in html and ctx.colours["toy-dynq"] in html


def test_a_plugin_that_fails_to_import_is_named(tmp_path, monkeypatch):
    from edgewise.errors import ConfigError
    from edgewise.operators import load_builtin_operators

    (tmp_path / "broken_op.py").write_text("raise RuntimeError('needs a library this host lacks')\n")
    info = tmp_path / "broken_op-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-op\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[edgewise.operators]\nbroken = broken_op\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="'broken' .*broken_op.*needs a library") as err:
        load_builtin_operators()
    assert "edgewise.operators" in err.value.hint
