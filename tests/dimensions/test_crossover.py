"""The crossover answer on synthetic samples whose crossing is known."""

from __future__ import annotations

import numpy as np
import pytest

from edgewise.analysis.conditions import condition_analyses
from edgewise.analysis.results import CellResult, ResultSet
from edgewise.errors import DataError

GRID = (1, 2, 5, 10, 20, 50, 100)


def _cell(placement: str, condition: str, median_ms: float, rng, n: int = 40) -> CellResult:
    samples = median_ms / 1e3 * rng.lognormal(0.0, 0.05, n)
    return CellResult("bert", "identity", placement, samples, condition=condition, metric="accuracy",
                      accuracy={"accuracy": 0.9})


def _results(seed: int = 0, payload_kb: float = 20.0) -> ResultSet:
    """edge: 30 ms whatever the link; cloud: 10 ms + the payload over edge-cloud + both delays.
    Without delay the medians cross at payload*8/20 Mbit/s (8 Mbit/s for 20 kB); with 25 ms never."""
    rng = np.random.default_rng(seed)
    cells = []
    for delay in (0, 25):
        for bw in GRID:
            condition = f"edge-cloud={bw}mbit,{delay}ms"
            cells.append(_cell("edge", condition, 30.0, rng))
            cells.append(_cell("cloud", condition, 10.0 + payload_kb * 8 / bw + 2 * delay, rng))
    return ResultSet(cells, {"name": "synthetic"})


def _true_crossing(payload_kb: float) -> float:
    return payload_kb * 8 / 20.0


@pytest.mark.parametrize("seed, payload_kb", [(0, 20.0), (1, 20.0), (2, 60.0), (3, 3.0)])
def test_each_stated_crossover_lies_where_the_measured_medians_cross(seed, payload_kb):
    rs = _results(seed, payload_kb)
    analyses = condition_analyses(rs)
    assert analyses.crossovers, "the known crossover is found"
    for x in analyses.crossovers:
        lo, hi = x.interval_mbit
        assert lo <= x.estimate_mbit <= hi
        # the measured medians really change order between the two ends of the stated interval
        def median(placement, bw):
            return float(np.median(rs.cell(f"bert:identity@{placement}~edge-cloud={bw:g}mbit,0ms").latency_s))
        assert (median("edge", lo) < median("cloud", lo)) != (median("edge", hi) < median("cloud", hi))
        assert x.fixed == "delay 0 ms", "with 25 ms of delay the cloud never wins: no crossover there"
    (x,) = analyses.crossovers
    true = _true_crossing(payload_kb)
    assert x.interval_mbit[0] <= true <= x.interval_mbit[1]
    assert (x.low_winner, x.high_winner) == ("identity@edge", "identity@cloud")
    assert x.supported
    assert x.text.startswith("below ~") and "keep bert on edge; above, cloud is faster" in x.text


def test_latency_against_bandwidth_and_the_tests_across_conditions():
    analyses = condition_analyses(_results())
    assert len(analyses.conditions) == 14
    cloud = [c for c in analyses.curves if c.cell == "identity@cloud" and c.fixed == "delay 0 ms"][0]
    medians = [p.median_s for p in cloud.points]
    assert [p.bandwidth_mbit for p in cloud.points] == list(GRID) and medians == sorted(medians, reverse=True)
    assert all(p.ci.low <= p.median_s <= p.ci.high for p in cloud.points)
    across = {a.cell: a for a in analyses.across}
    assert across["bert:identity@cloud"].p < 1e-6  # the cloud's latency depends on the link
    assert across["bert:identity@edge"].p > 1e-3  # the edge's does not
    assert len(across["bert:identity@cloud"].pairs) == 14 * 13 // 2
    assert any("keep bert on edge" in f for f in analyses.findings())


def _turned_results(seed: int) -> ResultSet:
    """Eight conditions in ten turns of four samples each, and a host whose speed moves from turn to turn: the
    edge's latency the same under every condition, the cloud's 20 % slower on the two slow links."""
    rng = np.random.default_rng(seed)
    conditions = [f"edge-cloud={bw}mbit,{delay}ms" for bw in (1, 5, 20, 100) for delay in (0, 25)]
    host = rng.lognormal(0.0, 0.08, (len(conditions), 10))  # the host's speed in each condition's ten turns
    cells = []
    for c, condition in enumerate(conditions):
        turns = np.repeat(np.arange(10) * len(conditions) + c, 4)  # the turns rotate over the conditions
        slow_link = "1mbit" in condition or "5mbit" in condition
        for placement, median_ms in (("edge", 30.0), ("cloud", 36.0 if slow_link else 30.0)):
            samples = median_ms / 1e3 * np.repeat(host[c], 4) * rng.lognormal(0.0, 0.01, 40)
            cells.append(CellResult("bert", "identity", placement, samples, condition=condition, turns=turns))
    return ResultSet(cells, {"name": "turns"})


def test_conditions_are_weighed_by_their_turns_not_their_samples():
    """Over its turns' medians the control (edge) is called different about as often as chance has it (5 %);
    taken as 40 independent samples per condition, the host's moments pass for a difference between
    conditions nearly every time. The cell that crosses the link is called different either way."""
    called = {"turns": 0, "samples": 0}
    for seed in range(20):
        rs = _turned_results(seed)
        across = {a.cell: a for a in condition_analyses(rs).across}
        edge = across["bert:identity@edge"]
        assert edge.by_turn and not edge.crosses and edge.to_dict()["kruskal"]["over"] == "turns"
        assert across["bert:identity@cloud"].differs
        called["turns"] += edge.differs
        alone = ResultSet([CellResult(c.subject, c.chain, c.placement, c.latency_s, condition=c.condition)
                           for c in rs.cells], {"name": "samples"})
        edge_alone = next(a for a in condition_analyses(alone).across if a.cell == "bert:identity@edge")
        assert not edge_alone.by_turn
        called["samples"] += edge_alone.differs
    assert called["turns"] <= 3 and called["samples"] >= 15, called
    # results.json keeps each sample's turn.
    first = rs.cells[0]
    assert np.array_equal(ResultSet.from_dict(rs.to_dict()).cell(first.name).turns, first.turns)


def test_no_conditions_no_analyses():
    rs = ResultSet([CellResult("bert", "identity", "edge", np.ones(5))])
    assert condition_analyses(rs).to_dict() == {"conditions": [], "across": [], "curves": [], "crossovers": []}


def test_recommend_analyze_and_report_answer_per_condition(tmp_path):
    import json

    from typer.testing import CliRunner

    from edgewise.cli import app

    path = tmp_path / "results.json"
    path.write_text(json.dumps(_results().to_dict()))
    runner = CliRunner()
    slow, fast = "edge-cloud=1mbit,0ms", "edge-cloud=100mbit,0ms"
    best = {}
    for condition in (slow, fast):
        out = runner.invoke(app, ["recommend", str(path), "--max-latency-ms", "500", "--max-accuracy-drop", "5",
                                  "--condition", condition, "--json"])
        assert out.exit_code == 0, out.output
        best[condition] = json.loads(out.output)["subjects"]["bert"]["best"]
    assert best[slow].endswith("@edge") and best[fast].endswith("@cloud")
    every = runner.invoke(app, ["recommend", str(path), "--max-latency-ms", "500", "--json"])
    assert len(json.loads(every.output)["conditions"]) == 14
    wrong = runner.invoke(app, ["recommend", str(path), "--max-latency-ms", "500", "--condition", "edge-cloud=3mbit"])
    assert isinstance(wrong.exception, DataError) and "known conditions" in str(wrong.exception)
    analyzed = runner.invoke(app, ["analyze", str(path), "--json"])
    assert any("keep bert on edge" in f for f in json.loads(analyzed.output)["findings"])
    report = runner.invoke(app, ["report", str(path), "--out", str(tmp_path / "report"), "--condition", fast])
    assert report.exit_code == 0, report.output
    html = (tmp_path / "report" / "report.html").read_text()
    assert '<section id="conditions">' in html and f"show network condition {fast}" in html
    assert "keep bert on edge" in (tmp_path / "report" / "summary.md").read_text()


def test_a_difference_within_what_the_emulation_resolves_is_not_called_one():
    """A control 2 % slower under half the conditions, measured with little noise: Kruskal-Wallis finds it, but
    its medians lie within RESOLUTION, so it is significant and not called different; 20 % apart, it is."""
    rng = np.random.default_rng(0)
    conditions = [f"edge-cloud={bw}mbit,{delay}ms" for bw in (1, 5, 20, 100) for delay in (0, 25)]
    for offset, called in ((0.02, False), (0.20, True)):
        cells = []
        for c, condition in enumerate(conditions):
            turns = np.repeat(np.arange(10) * len(conditions) + c, 4)
            median_ms = 30.0 * (1 + offset if condition.endswith("25ms") else 1.0)
            cells.append(CellResult("bert", "identity", "edge", median_ms / 1e3 * rng.lognormal(0.0, 0.003, 40),
                                    condition=condition, turns=turns))
        analyses = condition_analyses(ResultSet(cells, {"name": "resolution"}))
        edge = analyses.across[0]
        assert not edge.crosses and edge.significant and edge.differs is called
        assert edge.to_dict()["differs"] is called and edge.to_dict()["significant"]
        findings = " ".join(analyses.findings())
        assert ("significant within 5%" in findings) is not called, findings
