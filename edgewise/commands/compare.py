"""edgewise compare: two runs of one study side by side (do their figures replicate?)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgewise.analysis import load_results
from edgewise.analysis.jsonable import to_json
from edgewise.analysis.runs import RunComparison, compare_runs
from edgewise.commands import plain


def compare_command(
    run_a: Path = typer.Argument(..., help="a study directory (or its results.json)"),
    run_b: Path = typer.Argument(..., help="another run of the same study"),
    within: float = typer.Option(10.0, "--within", help="a cell's medians agree within this many percent"),
    as_json: bool = typer.Option(False, "--json", help="print machine-readable JSON"),
) -> None:
    """Cell medians within ±x %, the decisions and recommendations that changed, and each run's host drift.

    Example: edgewise compare runs/monday runs/friday --within 10
    """
    comparison = compare_runs(load_results(run_a), load_results(run_b), within / 100)
    if as_json:
        typer.echo(to_json(comparison.to_dict()))
        return
    render(comparison, Console())


def render(c: RunComparison, console: Console) -> None:
    agree = len(c.agreeing)
    console.print(f"{agree} of {len(c.pairs)} cell medians agree within ±{c.within:.0%}"
                  + (f"; {len(c.only_in_one)} cell(s) measured in one run only" if c.only_in_one else ""))
    table = Table(title="cells outside the bound", title_justify="left")
    for col in ("cell", "run A median (ms)", "run B median (ms)", "B / A"):
        table.add_column(col)
    for p in sorted(c.pairs, key=lambda p: -abs(p.ratio - 1)):
        if abs(p.ratio - 1) > c.within:
            plain.add_row(table, p.cell, f"{p.median_a_s * 1e3:.3g}", f"{p.median_b_s * 1e3:.3g}", f"{p.ratio:.3f}")
    if table.row_count:
        console.print(table)
    console.print(f"{c.decisions - len(c.changed)} of {c.decisions} decisions the findings rest on are the same"
                  + ("" if not c.changed else ":"))
    for ch in c.changed:
        console.print(f"  - {escape(ch.what)}: {escape(ch.a)} -> {escape(ch.b)}")
    same = "the same" if c.recommendations_match else "NOT the same"
    console.print(f"recommendations: {same}")
    for subject, (a, b) in c.recommendations.items():
        console.print(f"  - {escape(subject)}: {escape(str(a))}" + ("" if a == b else f" -> {escape(str(b))}"))
    for label, drift in zip(("A", "B"), c.drift):
        factor, unheld = drift.get("factor") or {}, drift.get("unheld") or {}
        if factor:
            console.print(f"run {label}: host at {factor['median']:.3g}x its nominal time in the median sample "
                          f"(p10 {factor['p10']:.3g}, p90 {factor['p90']:.3g}); {unheld.get('taken_again', 0)} "
                          f"sample(s) taken again, {unheld.get('kept', 0)} kept without headroom")
        else:
            console.print(f"run {label}: no record of the host's drift (its tiers followed no nominal speed)")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
