"""Every name a user wrote reaches the terminal as written: `edgewise plan` and `recommend` of a sweep of
operator settings print each chain's settings (rich would read `[ratio=0.3]` as markup and drop it)."""

from __future__ import annotations

import json

import numpy as np
import yaml
from typer.testing import CliRunner

from edgewise.cli import app
from tests.analysis.conftest import _cell

SWEEP = ["identity", "prune[ratio=0.3]", "prune[ratio=0.6]", "sptq[calibration=entropy]"]


def test_plan_prints_every_chains_settings(tmp_path):
    study = tmp_path / "sweep.yaml"
    study.write_text(yaml.safe_dump({"name": "sweep", "subjects": ["tiny-cnn"],
                                     "cells": [{"chains": SWEEP, "placements": ["edge"]}],
                                     "testbed": {"kind": "local"}}))
    result = CliRunner().invoke(app, ["plan", str(study)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for chain in SWEEP:
        assert f"tiny-cnn:{chain}@edge" in result.output, result.output


def test_recommend_prints_every_chains_settings(tmp_path):
    rng = np.random.default_rng(0)
    correct = rng.random(400) < 0.9
    cells = [_cell("tiny-cnn", chain, "edge", 20.0 + 5 * i, 64, correct, rng) for i, chain in enumerate(SWEEP)]
    (tmp_path / "results.json").write_text(json.dumps({
        "format": "edgewise-results/1", "study": {"name": "sweep", "sla": {"max_latency_ms": 100}}, "cells": cells}))
    result = CliRunner().invoke(app, ["recommend", str(tmp_path), "--max-latency-ms", "100", "--percentile", "50"],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for chain in SWEEP:
        assert f"tiny-cnn:{chain}@edge" in result.output, result.output
