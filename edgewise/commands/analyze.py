"""edgewise analyze: statistics of measured results (a study's results.json or the reference CSVs)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from edgewise.analysis import compare_cells, default_analyses, findings, load_results
from edgewise.analysis.conditions import condition_analyses
from edgewise.analysis.loading import FORMATS
from edgewise.analysis.render import render_analyses, render_comparison, to_json
from edgewise.analysis.runtimes import fastest_runtimes
from edgewise.analysis.stats import P_ADJUST_METHODS
from edgewise.errors import ConfigError


def analyze(
    results: Path = typer.Argument(..., help="study directory, results.json, reference latency CSV or generic CSV"),
    format: str = typer.Option("auto", "--format", help=f"one of {', '.join(FORMATS)}"),
    cells: str | None = typer.Option(None, "--cells", help="compare exactly these cells, comma-separated"),
    p_adjust: str = typer.Option("holm", "--p-adjust",
                                 help=f"one of {', '.join(P_ADJUST_METHODS)} (none reproduces the reference)"),
    as_json: bool = typer.Option(False, "--json", help="print machine-readable JSON"),
    condition: str | None = typer.Option(None, "--condition",
                                         help="analyse the cells of one network condition (a study with conditions)"),
) -> None:
    """Compare latencies (Kruskal-Wallis, Conover, Cliff's delta), accuracy drops and speed-ups.

    Example: edgewise analyze whitebox-2411.00907-latency.csv --p-adjust none
    --cells "resnet:identity@edge,resnet:sptq@edge"
    """
    if p_adjust not in P_ADJUST_METHODS:
        raise ConfigError(f"--p-adjust {p_adjust!r} is unknown", f"use one of {', '.join(P_ADJUST_METHODS)}")
    rs = load_results(results, format)  # type: ignore[arg-type]
    console = Console()
    if rs.conditions and condition is None and not cells:
        across = condition_analyses(rs)
        if as_json:
            typer.echo(to_json({"study": rs.study, **across.to_dict(), "findings": across.findings()}))
        else:
            console.print("\n".join(["Across the network conditions:", *(f"- {f}" for f in across.findings()),
                                      "Analyse one condition with --condition NAME: " + ", ".join(rs.conditions)]))
        return
    if condition is not None:
        rs = rs.at_condition(condition)
    if cells:
        comparison = compare_cells(rs, [c.strip() for c in cells.split(",") if c.strip()], p_adjust)  # type: ignore[arg-type]
        if as_json:
            typer.echo(to_json(comparison.to_dict()))
        else:
            console.print(render_comparison(comparison))
        return
    analyses = default_analyses(rs, p_adjust)  # type: ignore[arg-type]
    found = findings(rs, analyses)
    runtimes = fastest_runtimes(rs)
    if as_json:
        typer.echo(to_json({"study": rs.study, **analyses.to_dict(), "findings": [f.to_dict() for f in found],
                            "fastest_runtimes": [r.to_dict() for r in runtimes]}))
    else:
        console.print(render_analyses(analyses, found))
        if runtimes:
            console.print("\n".join(["The fastest runtime per subject and tier:", *(f"- {r.text()}" for r in runtimes)]),
                          markup=False)


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)
