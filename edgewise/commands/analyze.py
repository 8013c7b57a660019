"""edgewise analyze: statistics of measured results (a study's results.json or the reference CSVs)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from edgewise.analysis import compare_cells, default_analyses, findings, load_results
from edgewise.analysis.conditions import condition_analyses
from edgewise.analysis.jsonable import to_json
from edgewise.analysis.loading import FORMATS
from edgewise.analysis.runtimes import fastest_runtimes
from edgewise.analysis.stats import P_ADJUST_METHODS
from edgewise.commands.render import render_analyses, render_comparison
from edgewise.errors import ConfigError, DataError


def analyze(
    results: Path = typer.Argument(..., help="study directory, results.json, reference latency CSV or generic CSV"),
    format: str = typer.Option("auto", "--format", help=f"one of {', '.join(FORMATS)}"),
    cells: str | None = typer.Option(None, "--cells", help="compare exactly these cells, comma-separated"),
    p_adjust: str = typer.Option("holm", "--p-adjust",
                                 help=f"one of {', '.join(P_ADJUST_METHODS)} (none reproduces the reference)"),
    as_json: bool = typer.Option(False, "--json", help="print machine-readable JSON"),
    condition: str | None = typer.Option(None, "--condition",
                                         help="analyse the cells of one network condition (a study with conditions)"),
    profile: str | None = typer.Option(None, "--profile", help="where one cell's model time and memory go: its "
                                       "operator profile, int8 against fp32, costliest nodes, footprint"),
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
    if profile is not None:
        _profile(rs.at_condition(condition) if condition is not None else rs, profile.strip(), as_json, console)
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


def _profile(rs, name: str, as_json: bool, console: Console) -> None:
    from edgewise.analysis.footprint import footprint, memory_status, model_status
    from edgewise.analysis.profiles import profile_view
    from edgewise.commands.render import render_profile
    from edgewise.sla import Sla

    cell = rs.cell(name)
    view = profile_view(rs, cell)
    if view is None:
        raise DataError(f"the results carry no operator profile for {name}",
                        "profiles are taken by `edgewise run` after the accuracy stage: run the study again "
                        "(it resumes and profiles what lacks a profile)")
    sla = Sla.of(rs.study)
    judged: list[str] = []
    statuses = [model_status(cell, sla.max_model_mb, judged), memory_status(cell, sla.max_memory_mb, judged)]
    bounded = [b for b in (sla.max_model_mb, sla.max_memory_mb) if b is not None]
    if bounded and all(s == "meets" for s in statuses):
        judged.append(f"within the SLA's footprint bounds ({sla.describe()})")
    parts = footprint(cell)
    if as_json:
        typer.echo(to_json({**view.to_dict(), "footprint": [vars(p) for p in parts], "sla": judged}))
    else:
        console.print(render_profile(view, cell.placement.split("-"), parts, judged))


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)
