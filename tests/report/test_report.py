"""The report from results.json and from the reference CSV: files, sections, charts, summary.md, CLI."""

from __future__ import annotations

import json
import re
import time

import typer
from typer.testing import CliRunner

from edgewise.analysis import ResultSet
from edgewise.commands.report import register
from edgewise.report import write_report
from tests.report.conftest import BLACKBOX, CHAINS
from tests.report.synthetic import synthetic_results

SECTIONS = ("summary", "latency", "accuracy", "breakdown", "speedups", "significance", "reference", "operators")


def _svgs(html: str) -> list[str]:
    return re.findall(r"<svg .*?</svg>", html, flags=re.S)


def test_report_of_a_study_has_every_section_and_is_self_contained(results_json, tmp_path):
    html_path = write_report(results_json, tmp_path / "out")
    html = html_path.read_text()
    assert html_path == tmp_path / "out" / "report.html"
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in html
    # Offline: nothing is fetched (no src/href to the network, no external script or stylesheet).
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script src" not in html and "<link " not in html
    # Per subject: one latency chart and one breakdown chart; every chart draws marks.
    svgs = _svgs(html)
    assert len(re.findall(r"end-to-end latency of every cell", html)) >= 2
    assert svgs and all(svg.count("<rect") + svg.count("<circle") >= 2 for svg in svgs)
    # The failed cell is reported, not plotted.
    assert "resnet:qat@mobile-edge (does-not-fit)" in html
    assert "head needs 1.4 GB" in html


def test_colours_are_one_per_chain_across_charts(results_json, tmp_path):
    html = write_report(results_json, tmp_path).read_text()
    legend = dict((chain, colour) for colour, chain in re.findall(r'<i style="background:(#[0-9A-Fa-f]{6})"></i>([^<]+)<', html))
    assert set(legend) == set(CHAINS)
    assert len(set(legend.values())) == len(CHAINS)
    # The scatter dot of sptq carries the legend's colour of sptq.
    sptq_dots = re.findall(r'<circle [^>]*fill="(#[0-9A-Fa-f]{6})"[^>]*><title>resnet:sptq@edge', html)
    assert sptq_dots and set(sptq_dots) == {legend["sptq"]}


def test_summary_markdown_recommends_for_the_sla(results_json, tmp_path):
    write_report(results_json, tmp_path)
    md = (tmp_path / "summary.md").read_text()
    assert md.startswith("# edgewise: synthetic")
    assert "p95 latency ≤ 50 ms" in md
    judged = next(line for line in md.splitlines() if line.startswith("Judged: "))
    assert "judged at p95 for 0 of" in judged and "too few samples in the others: judged at p50" in judged
    rec = md.split("## Recommendation")[1].split("##")[0]
    # Synthetic bert (twice resnet's latency) still has cells under 50 ms; its best is a quantized chain.
    bert_row = next(line for line in rec.splitlines() if line.startswith("| bert"))
    assert "sptq" in bert_row and "| meets |" in bert_row
    # 40 samples cannot support p95: the recommendation says so and judges on p50, with the CI of both figures.
    assert re.search(r"p50 [\d.]+ ms \[[\d.]+, [\d.]+\]", bert_row) and "judged on p50" in bert_row
    assert re.search(r"\| -?\d+\.\d\d \[-?\d+\.\d\d, -?\d+\.\d\d\] \|", bert_row)  # paired drop with its CI
    # The cell that did not fit fails, with its reason; the analysis package's verdict is the one shown.
    assert "| resnet:qat@mobile-edge | fails |" in md and "head needs 1.4 GB" in md


def test_report_of_the_whitebox_reference_says_what_it_cannot_show(whitebox_csv, tmp_path):
    start = time.perf_counter()
    html = write_report(whitebox_csv, tmp_path / "wb.html").read_text()
    elapsed = time.perf_counter() - start
    assert elapsed < 20, f"the 40,000-row reference report took {elapsed:.1f} s"
    assert "the reference study measured only end-to-end latency" in html
    assert "accuracy values were percents in the source" in html
    assert "These results are the reference study" in html
    for subject in ("resnet", "resnext", "bert", "roberta"):
        assert f"{subject}: end-to-end latency of every cell" in html
    assert (tmp_path / "summary.md").exists()


def test_study_beside_the_reference_gives_a_verdict_per_chain(results_json, whitebox_csv, tmp_path):
    html = write_report(results_json, tmp_path, reference=[whitebox_csv, BLACKBOX]).read_text()
    section = html.split('<section id="reference">')[1].split("</section>")[0]
    assert "agrees" in section or "differs" in section
    rows = {tuple(re.findall(r"<td[^>]*>([^<]*)</td>", row)[:3]) for row in re.findall(r"<tr>(.*?)</tr>", section)}
    # White-box chains are set beside the white-box study, sptq and partition beside the black-box one.
    assert ("distill+sptq", "edge", "white-box study (arXiv 2411.00907)") in rows
    assert ("sptq", "edge", "black-box study (arXiv 2403.17154)") in rows
    assert ("partition", "mobile-edge", "black-box study (arXiv 2403.17154)") in rows
    assert "speed-up over identity on mobile" in section
    assert "early-exit" not in section  # the reference is cut to the chains this study measured


def test_a_study_is_set_beside_the_packaged_reference_by_default(results_json, tmp_path):
    section = write_report(results_json, tmp_path).read_text().split('<section id="reference">')[1]
    assert "white-box study (arXiv 2411.00907)" in section and "black-box study (arXiv 2403.17154)" in section
    assert "agrees" in section or "differs" in section


def test_builds_in_seconds_for_80_cells_of_40_samples(tmp_path):
    subjects = ["s1", "s2", "s3", "s4", "s5"]
    data = synthetic_results(subjects, CHAINS, ["mobile", "edge", "cloud", "mobile-edge"], samples=40)
    results = ResultSet.from_dict(data)
    assert len(results.cells) >= 80
    start = time.perf_counter()
    write_report(results, tmp_path)
    assert time.perf_counter() - start < 15


def test_cli_writes_the_report_and_refuses_a_missing_file(results_json, tmp_path):
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # typer runs a single command without its name otherwise
    runner = CliRunner()
    ok = runner.invoke(app, ["report", str(results_json), "--out", str(tmp_path / "r.html")])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "r.html").stat().st_size > 10_000
    assert (tmp_path / "summary.md").exists()
    missing = runner.invoke(app, ["report", str(tmp_path / "nope.json"), "--out", str(tmp_path / "x")])
    assert missing.exit_code != 0
    assert "no results at" in str(missing.exception)


def test_results_json_round_trip_feeds_the_report(results_json, tmp_path):
    data = json.loads(results_json.read_text())
    data["emulation"]["ok"] = False
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    html = write_report(tmp_path, tmp_path / "out").read_text()  # a study folder is accepted
    assert "NOT within tolerance" in html


def test_the_testbed_section_says_what_is_modelled_per_tier(results_json, tmp_path):
    from edgewise.testbeds.emulation import EmulationReport, Figure

    emulation = EmulationReport("linux", False, labels={
        "mobile": {"speed": "modelled (compute stretched in the tier server)", "share": "enforced (cgroup CFS quota)"}})
    emulation.add(Figure("speed:mobile:3ms", 4.0, 4.1, "x slower", tolerance_min=0.15, note="modelled"))
    data = json.loads(results_json.read_text())
    data["emulation"] = emulation.to_dict()
    (tmp_path / "results.json").write_text(json.dumps(data))
    html = write_report(tmp_path, tmp_path / "out").read_text()
    assert "What is enforced and what is modelled" in html
    assert "modelled (compute stretched in the tier server)" in html and "speed:mobile:3ms" in html
