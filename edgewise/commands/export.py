"""edgewise export: one measured cell's model, in its runtime's form, and its provenance, ready to deploy."""

from __future__ import annotations

from pathlib import Path

import typer

from edgewise.output.shipping import export_cell
from edgewise.study import DEFAULT_CACHE


def export(
    run_dir: Path = typer.Argument(..., help="a study's output directory (holds results.json and study.sqlite)"),
    # Help text is read as rich markup, where "[/...]" closes a tag: the optional part is spelled out.
    cell: str = typer.Argument(..., help="the cell to ship, SUBJECT:CHAIN@PLACEMENT, with /RUNTIME after it for "
                               "a runtime other than onnxruntime"),
    out: Path = typer.Option(..., "--out", "-o", help="directory for the model file(s) and provenance.json"),
    cache: Path = typer.Option(DEFAULT_CACHE, help="the artifact cache the run used"),
) -> None:
    """Write a cell's model as its runtime loads it (model.onnx, or head.onnx and tail.onnx for a split; OpenVINO
    IR model.xml and model.bin; an ExecuTorch model.pte) and provenance.json.

    Example: edgewise export runs/default "resnet:sptq@edge/openvino" --out ship/
    """
    written = export_cell(run_dir, cell, out, cache)
    for path in written:
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("export")(export)
