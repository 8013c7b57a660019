"""The white-box operators on the families users bring, through `edgewise run`: GPT-2 (one fused
q/k/v Conv1D, causal attention, last-token pooling), Qwen2 (grouped-query attention, gated FFN),
Swin (windowed attention with a per-head relative position bias, stages) and ConvNeXt (depthwise
7x7, LayerNorm, layer scale; torch.fx cannot trace it). Each is trained here, saved as a local
Hugging Face folder, then studied with qat, prune, distill and distill+sptq on the edge tier of a
local testbed: every cell must be built and measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edgewise.testing import families

CHAINS = ["identity", "qat", "prune", "distill", "distill+sptq"]
# Short schedules: the test asks that every operator works on the family, not how well it trains.
OPERATORS = {
    "qat": {"epochs": 1, "iterations": 6},
    "prune": {"epochs": 4, "iterations": 10},
    "distill": {"epochs": 4, "iterations": 10},
    "sptq": {"calibration_size": 16, "latency_runs": 2},
}
# What each operator must have done to the family, read from the artifact's metadata.
QAT_BACKEND = {"gpt2": "linear", "qwen2": "linear", "swin": "linear", "convnext": "eager"}
STUDENT = {"gpt2": "1 of 2 layers of the teacher", "qwen2": "1 of 2 layers of the teacher",
           "swin": "2 of 4 blocks of the teacher, each of its 2 stages shortened (2+2 -> 1+1)",
           "convnext": "2 of 4 blocks of the teacher, each of its 2 stages shortened (2+2 -> 1+1)"}


def _build(name: str, root: Path) -> families.Family:
    if name in families.IMAGE_CLASSIFIERS:
        return families.hf_image_family(name, root)
    return families.hf_text_family(name, root)


# make test builds a decoder through a study (benchmarks' quick run prunes and distills a Swin); the rest run
# with make test-all.
@pytest.mark.parametrize("name", [pytest.param("gpt2", marks=pytest.mark.slow), "qwen2",
                                  pytest.param("swin", marks=pytest.mark.slow),
                                  pytest.param("convnext", marks=pytest.mark.slow)])
def test_white_box_chains_build_and_measure(name, tmp_path):
    family = _build(name, tmp_path)
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({
        "name": f"family-{name}", "subjects": [family.subject],
        "cells": [{"chains": CHAINS, "placements": ["edge"]}],
        "testbed": {"kind": "local", "preset": "paper-scaled", "verify": False},
        "measure": {"inputs": 3, "passes": 2, "warmup_passes": 1},
        "operators": OPERATORS, "seed": 0}))
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.environ.get("PYTHONPATH", ""), os.getcwd()])}
    proc = subprocess.run([sys.executable, "-m", "edgewise.cli", "run", str(study), "--out", str(out),
                           "--cache", str(tmp_path / "cache"), "--profile", "quick"],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    cells = {c["chain"]: c for c in json.loads((out / "results.json").read_text())["cells"]}
    assert set(cells) == set(CHAINS)
    for chain, cell in cells.items():
        assert cell["status"] == "ok", (chain, cell.get("error"))
        assert len(cell["latency_s"]) == 3 and all(t > 0 for t in cell["latency_s"]), chain
    metric = cells["identity"]["metric"]
    assert cells["identity"]["accuracy"][metric] >= 0.9, "the family's model learned its task"
    assert cells["qat"]["accuracy"][metric] >= cells["identity"]["accuracy"][metric] - 0.05
    # Pruned and distilled models retrain for a few dozen steps only: they must still do the task
    # (chance is 0.25), not match the model.
    for chain in ("prune", "distill", "distill+sptq"):
        assert cells[chain]["accuracy"][metric] >= 0.5, chain
    qat, prune, distill = (cells[chain]["artifact"]["meta"] for chain in ("qat", "prune", "distill"))
    assert qat["backend"] == QAT_BACKEND[name] and qat["integer_kernels"]
    assert distill["student"] == STUDENT[name]
    assert distill["student_parameters"] < distill["teacher_parameters"]
    assert prune["macs_after"] < prune["macs_before"]
