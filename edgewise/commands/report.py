"""edgewise report: the HTML report and summary.md of a study's results (or of a reference CSV)."""

from __future__ import annotations

from pathlib import Path

import typer


def report(
    results: Path = typer.Argument(..., help="a study's folder, its results.json, or a reference latency CSV"),
    out: Path = typer.Option(Path("report"), "--out", "-o",
                             help="a folder (gets report.html and summary.md) or an .html file"),
    reference: list[Path] = typer.Option([], "--reference", "-r",
                                         help="a published latency CSV to compare with (repeatable)"),
) -> None:
    """Write a self-contained HTML report (opens offline) and a Markdown summary.

    Example: edgewise report runs/default --out runs/default/report.html -r reference/whitebox-2411.00907-latency.csv
    """
    from edgewise.report import write_report

    html = write_report(results, out, reference=list(reference))
    typer.echo(f"wrote {html} and {html.parent / 'summary.md'}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
