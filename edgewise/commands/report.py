"""edgewise report: the HTML report and summary.md of a study's results (or of a reference CSV)."""

from __future__ import annotations

from pathlib import Path

import typer


def report(
    results: Path = typer.Argument(..., help="a study's folder, its results.json, or a reference latency CSV"),
    out: Path = typer.Option(Path("report"), "--out", "-o",
                             help="a folder (gets report.html and summary.md) or an .html file"),
    reference: list[Path] = typer.Option([], "--reference", "-r",
                                         help="a published latency CSV to compare with (repeatable; default: the "
                                              "reference study's files that match the study's chains)"),
    max_latency_ms: float | None = typer.Option(None, "--max-latency-ms", help="SLA latency bound (default: the study's)"),
    percentile: int | None = typer.Option(None, "--percentile", help="SLA percentile: 50, 90, 95 or 99"),
    max_accuracy_drop: float | None = typer.Option(None, "--max-accuracy-drop",
                                                   help="SLA accuracy drop in points of the primary metric"),
    condition: str | None = typer.Option(None, "--condition",
                                         help="the network condition the per-cell sections show (default: the first)"),
) -> None:
    """Write a self-contained HTML report (opens offline) and a Markdown summary.

    Example: edgewise report runs/default --out runs/default/report.html -r reference/whitebox-2411.00907-latency.csv
    """
    from edgewise.analysis import load_results  # lazy: keeps `edgewise --help` light
    from edgewise.report import write_report  # lazy: keeps `edgewise --help` light
    from edgewise.sla import Sla

    loaded = load_results(results)
    sla = Sla.of(loaded.study, max_latency_ms, percentile, max_accuracy_drop)
    html = write_report(results, out, reference=list(reference) or None, sla=sla, condition=condition)
    typer.echo(f"wrote {html} and {html.parent / 'summary.md'}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
