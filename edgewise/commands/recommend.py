"""edgewise recommend: which cells meet a latency percentile bound at an accepted accuracy drop."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from edgewise.analysis import load_results, recommend
from edgewise.analysis.jsonable import to_json
from edgewise.analysis.loading import FORMATS
from edgewise.analysis.slices import by_condition
from edgewise.commands.render import render_recommendation
from edgewise.sla import DEFAULT_SLA, Sla


def recommend_command(
    results: Path = typer.Argument(..., help="study directory, results.json, reference latency CSV or generic CSV"),
    max_latency_ms: float = typer.Option(..., "--max-latency-ms", help="latency bound at the percentile (ms)"),
    percentile: int = typer.Option(DEFAULT_SLA.percentile, "--percentile", help="50, 90, 95 or 99"),
    max_accuracy_drop: float = typer.Option(DEFAULT_SLA.max_accuracy_drop, "--max-accuracy-drop",
                                            help="accepted drop of the primary metric, in points"),
    max_model_mb: float | None = typer.Option(None, "--max-model-mb",
                                              help="largest model file per tier (MB); default: the study's SLA"),
    max_memory_mb: float | None = typer.Option(None, "--max-memory-mb",
                                               help="peak serving memory per tier (MB); default: the study's SLA"),
    placements: str | None = typer.Option(None, "--placements", help="only these placements, comma-separated"),
    format: str = typer.Option("auto", "--format", help=f"one of {', '.join(FORMATS)}"),
    condition: str | None = typer.Option(None, "--condition",
                                         help="a network condition of the study (default: each in turn)"),
    as_json: bool = typer.Option(False, "--json", help="print machine-readable JSON"),
) -> None:
    """Judge every cell against the SLA: meets, borderline or fails, ranked per subject, with the Pareto front
    (model size and peak serving memory per tier too, when bounded here or in the study's SLA).

    Example: edgewise recommend whitebox-2411.00907-latency.csv --max-latency-ms 2000 --max-accuracy-drop 1
    """
    rs = load_results(results, format)  # type: ignore[arg-type]
    chosen = [p.strip() for p in placements.split(",") if p.strip()] if placements else None
    stated = Sla.of(rs.study, max_model_mb=max_model_mb, max_memory_mb=max_memory_mb)
    recs = {name: recommend(part, max_latency_ms, percentile, max_accuracy_drop, chosen,
                            max_model_mb=stated.max_model_mb, max_memory_mb=stated.max_memory_mb)
            for name, part in by_condition(rs, condition)}
    if as_json:
        if len(recs) == 1:  # no conditions, or the one asked for
            name, rec = next(iter(recs.items()))
            typer.echo(to_json({**rec.to_dict(), **({"condition": name} if name else {})}))
        else:
            typer.echo(to_json({"conditions": {n: r.to_dict() for n, r in recs.items()}}))
        return
    for name, rec in recs.items():
        if name:
            Console().rule(f"network condition {name}")
        Console().print(render_recommendation(rec))


def register(app: typer.Typer) -> None:
    app.command("recommend")(recommend_command)
