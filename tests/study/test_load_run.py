"""`edgewise load` end to end on tiny-cnn: a real testbed, real tier servers, a short search."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from edgewise.cli import app


def test_load_command_searches_a_cell_and_answers_the_sla_rate(tmp_path, tiny_cnn, cache_dir):
    study = tmp_path / "load.yaml"
    study.write_text("""
name: load-test
subjects: [tiny-cnn]
cells: [{chains: [identity], placements: [edge]}]
testbed: {kind: local, verify: false}  # verification: tests/testbeds, tests/executors/test_server_scenario_options.py
measure: {scenario: server, inputs: 4, load: {requests_per_step: 70, max_steps: 3}}
sla: {max_latency_ms: 200, percentile: 90, rate_per_s: 20}
""")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(study), "--out", str(out), "--cache", str(cache_dir)])
    assert result.exit_code == 0, result.output
    cell = json.loads((out / "load.json").read_text())["cells"][0]
    assert cell["status"] == "ok" and cell["service_s"] > 0 and cell["capacity_per_s"] == 1 / cell["service_s"]
    assert 1 <= len(cell["steps"]) <= 3 and all(s["requests"] == 70 for s in cell["steps"])
    step = cell["steps"][0]
    assert "queue:edge" in step["median_breakdown_s"] and "compute:edge" in step["median_breakdown_s"]
    assert step["peak_rss_mb"]["edge"] > 0 and step["ok"] + step["busy"] + step["errors"] == 70
    at = cell["at_sla_rate"]
    assert at["rate_per_s"] == 20 and at["bound"]["n"] == 70
    md = (out / "load.md").read_text()
    assert "## Which cell holds p90 at 20/s" in md and "tiny-cnn:identity@edge" in md
    assert "<svg" in (out / "load.html").read_text()
