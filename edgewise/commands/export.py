"""edgewise export: one measured cell's ONNX file(s) and its provenance, ready to deploy."""

from __future__ import annotations

from pathlib import Path

import typer

from edgewise.shipping import export_cell
from edgewise.study import DEFAULT_CACHE


def export(
    run_dir: Path = typer.Argument(..., help="a study's output directory (holds results.json and study.sqlite)"),
    cell: str = typer.Argument(..., help="the cell to ship, SUBJECT:CHAIN@PLACEMENT"),
    out: Path = typer.Option(..., "--out", "-o", help="directory for the ONNX file(s) and provenance.json"),
    cache: Path = typer.Option(DEFAULT_CACHE, help="the artifact cache the run used"),
) -> None:
    """Write a cell's model (model.onnx, or head.onnx and tail.onnx for a split) and provenance.json.

    Example: edgewise export runs/default "resnet:sptq@edge" --out ship/
    """
    written = export_cell(run_dir, cell, out, cache)
    for path in written:
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("export")(export)
