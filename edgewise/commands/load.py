"""edgewise load: the server scenario, the largest rate each cell sustains within the SLA."""

from __future__ import annotations

from pathlib import Path

import typer

from edgewise.commands import options
from edgewise.commands.progress import StudyProgress
from edgewise.config import load_study
from edgewise.study import RunOptions
from edgewise.vocabulary import QUICK


def load(
    study: Path = typer.Argument(..., help="study file (YAML); measure.load and sla.rate_per_s apply"),
    out: Path = typer.Option(..., "--out", "-o", help="directory for load.json, load.md, load.html"),
    profile: str = typer.Option(QUICK, help="quick or paper (training of the artifacts' teachers)"),
    cache: Path = options.CACHE,
    rate: float = typer.Option(None, "--rate", help="answer the SLA at this many requests/s (sla.rate_per_s)"),
) -> None:
    """Offer Poisson load to every cell and find the largest rate whose SLA percentile holds.

    Example: edgewise load examples/load.yaml --out runs/load
    """
    from edgewise.loadrun import run_load  # lazy: keeps `edgewise --help` light

    config = load_study(study)
    if rate is not None:
        config.sla.rate_per_s = rate
    with StudyProgress() as progress:
        path = run_load(config, RunOptions(out=out, profile=profile, cache_dir=cache, log=progress.log))
    typer.echo(f"load results: {path}\nsummary: {out / 'load.md'}\nreport: {out / 'load.html'}")


def register(app: typer.Typer) -> None:
    app.command("load")(load)
