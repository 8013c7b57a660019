"""edgewise plan: the cells of a study, checked, without running anything."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from edgewise.commands import plain
from edgewise.config import load_study
from edgewise.planning.plan import plan_cells


def plan(
    study: Path = typer.Argument(..., help="study file (YAML)"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list of {cell, subject, chain, placement[, "
                                 "runtime]}"),
) -> None:
    """List the cells of a study.

    Example: edgewise plan examples/paper.yaml --json
    """
    config = load_study(study)
    onnx_only = {s.name for s in config.subjects if not isinstance(s, str) and s.onnx}
    cells = plan_cells(config, onnx_only)
    if as_json:
        typer.echo(json.dumps([c.as_dict() for c in cells], indent=1))
        return
    table = Table(title=f"{config.name}: {len(cells)} cells")
    for col in ("cell", "subject", "chain", "placement", "runtime"):
        table.add_column(col)
    for c in cells:
        d = c.as_dict()
        plain.add_row(table, d["cell"], d["subject"], d["chain"], d["placement"], c.runtime_choice.label)
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
