"""Models of four families no built-in subject uses, through every chain of `edgewise run`.

ALBERT and DeBERTa-v2 text classifiers and a ViT image classifier as local Hugging Face folders,
and a depthwise-separable CNN behind `torch: module:factory`: each trained here, then studied
with identity, sptq, qat, prune, distill, distill+sptq, partition and sptq+partition on real
tier servers. Every cell must be built and measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import IS_ROOT
from edgewise.testing import families

TESTBED = "linux" if IS_ROOT else "local"
WHOLE_MODEL_CHAINS = ["identity", "sptq", "qat", "prune", "distill", "distill+sptq"]
SPLIT_CHAINS = ["partition", "sptq+partition"]
# Short schedules: the test asks that every operator works on the family, not how well it trains.
OPERATORS = {
    "qat": {"epochs": 1, "iterations": 6},
    "prune": {"epochs": 4, "iterations": 10},
    "distill": {"epochs": 3, "iterations": 10},
    "sptq": {"calibration_size": 16, "latency_runs": 2},
    "partition": {"max_candidates": 3, "profile_runs": 1, "verify_samples": 2},
}


def _build(name: str, root: Path) -> families.Family:
    if name == "vit":
        return families.hf_vit_family(root)
    if name == "depthwise-cnn":
        return families.torch_cnn_family(root)
    return families.hf_text_family(name, root)


# make test builds a CNN through every chain (tests/operators/test_families_study.py a decoder;
# tests/operators/test_families_whitebox.py checks every family's surgery); the rest run with make test-all.
@pytest.mark.parametrize("name", [pytest.param("albert", marks=pytest.mark.slow),
                                  pytest.param("deberta-v2", marks=pytest.mark.slow),
                                  pytest.param("vit", marks=pytest.mark.slow), "depthwise-cnn"])
def test_every_chain_of_a_family_is_built_and_measured(name, tmp_path):
    family = _build(name, tmp_path)
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({
        "name": f"family-{name}", "subjects": [family.subject],
        "cells": [{"chains": WHOLE_MODEL_CHAINS, "placements": ["edge"]},
                  {"chains": SPLIT_CHAINS, "placements": ["mobile-edge"]}],
        "testbed": {"kind": TESTBED, "preset": "paper-scaled", "verify": False},
        "measure": {"inputs": 3, "passes": 2, "warmup_passes": 1},
        "operators": OPERATORS, "seed": 0}))
    out = tmp_path / "run"
    # The torch factory module lives beside the model, as a user's would: on PYTHONPATH.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", ""), os.getcwd()])}
    proc = subprocess.run([sys.executable, "-m", "edgewise.cli", "run", str(study), "--out", str(out),
                           "--cache", str(tmp_path / "cache"), "--profile", "quick"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    cells = {c["chain"]: c for c in json.loads((out / "results.json").read_text())["cells"]}
    assert set(cells) == set(WHOLE_MODEL_CHAINS + SPLIT_CHAINS)
    for chain, cell in cells.items():
        assert cell["status"] == "ok", (chain, cell.get("error"))
        assert len(cell["latency_s"]) == 3 and all(t > 0 for t in cell["latency_s"]), chain
        assert 0.0 <= cell["accuracy"][cell["metric"]] <= 1.0, chain
    metric = cells["identity"]["metric"]
    assert cells["identity"]["accuracy"][metric] >= 0.9, "the family's model learned its task"
    # Operators that keep the function: within a few points of the model itself.
    for chain in ("sptq", "qat", "partition", "sptq+partition"):
        assert cells[chain]["accuracy"][metric] >= cells["identity"]["accuracy"][metric] - 0.05, chain
    # Pruned and distilled models retrain for a few dozen steps only: they must still do the task
    # (chance is 0.25), not match the model.
    for chain in ("prune", "distill", "distill+sptq"):
        assert cells[chain]["accuracy"][metric] >= 0.5, chain
