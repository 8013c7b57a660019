"""The report in headless Chromium: no console error, every chart drawn, a screenshot saved."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgewise.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

# Runs before the page's own script: records errors, then measures every chart once the page has loaded.
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
var __consoleError = console.error;
console.error = function () { window.__errors.push(Array.prototype.join.call(arguments, " ")); __consoleError.apply(console, arguments); };
window.addEventListener("load", function () {
  var charts = Array.prototype.map.call(document.querySelectorAll("svg.chart"), function (svg) {
    var box = svg.getBBox();
    return {label: svg.getAttribute("aria-label"), width: box.width, height: box.height,
            marks: svg.querySelectorAll("rect, circle, line, polyline").length};
  });
  var th = document.querySelector("table.sortable th");
  if (th) { th.click(); }
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({errors: window.__errors, charts: charts});
  document.body.appendChild(out);
});
</script>"""


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", f"--user-data-dir={profile}",
         "--hide-scrollbars", *args],
        capture_output=True, text=True, timeout=120)


def _probe(html_path: Path, tmp_path: Path) -> dict:
    probed = tmp_path / "probed.html"
    probed.write_text(html_path.read_text().replace("<head>", "<head>" + PROBE, 1))
    run = _chromium(tmp_path / "profile-dom", "--virtual-time-budget=5000", "--dump-dom", probed.as_uri())
    match = re.search(r'<pre id="probe">(.*?)</pre>', run.stdout, flags=re.S)
    assert match, f"the page did not finish loading: {run.stderr[-2000:]}"
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


@pytest.mark.parametrize("which", ["study", "whitebox"])
def test_report_renders_without_errors_and_every_chart_draws(which, results_json, whitebox_csv, tmp_path):
    source = results_json if which == "study" else whitebox_csv
    html_path = write_report(source, tmp_path / "report")
    probe = _probe(html_path, tmp_path)
    assert probe["errors"] == []
    assert len(probe["charts"]) >= 8
    blank = [c["label"] for c in probe["charts"] if c["width"] <= 0 or c["height"] <= 0 or c["marks"] < 2]
    assert blank == []

    shot = tmp_path / "report" / "screenshot.png"
    _chromium(tmp_path / "profile-shot", "--window-size=1400,4000", f"--screenshot={shot}", html_path.as_uri())
    assert shot.exists() and shot.stat().st_size > 50_000
    keep = os.environ.get("EDGEWISE_SCREENSHOT_DIR")  # to look at the page: set it to a folder
    if keep:
        shutil.copyfile(shot, Path(keep) / f"report-{which}.png")


def test_probe_catches_a_script_error(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text('<html><head></head><body><svg class="chart"></svg><script>undefinedCall();</script></body></html>')
    probe = _probe(broken, tmp_path)
    assert any("undefinedCall" in e for e in probe["errors"])
    assert probe["charts"][0]["width"] == 0
