"""edgewise load: the server scenario, the largest rate each cell sustains within the SLA."""

from __future__ import annotations

from pathlib import Path

import typer

from edgewise.commands import options
from edgewise.commands.run import run_study
from edgewise.config import load_study
from edgewise.vocabulary import QUICK, SERVER


def load(
    study: Path = typer.Argument(..., help="study file (YAML); measure.load and sla.rate_per_s apply"),
    out: Path = typer.Option(..., "--out", "-o", help="directory for load.json, load.md, load.html"),
    profile: str = typer.Option(QUICK, help="quick or paper (training of the artifacts' teachers)"),
    cache: Path = options.CACHE,
    rate: float = typer.Option(None, "--rate", help="answer the SLA at this many requests/s (sla.rate_per_s)"),
    fresh: bool = typer.Option(False, "--fresh", help="discard what OUT holds and start over"),
    device: str = options.DEVICE,
    executor: str | None = options.EXECUTOR,
    lanes: int | None = options.LANES,
) -> None:
    """Offer Poisson load to every cell and find the largest rate whose SLA percentile holds
    (`edgewise run` of the study with measure.scenario: server).

    Example: edgewise load examples/load.yaml --out runs/load
    """
    config = load_study(study)
    config.measure.scenario = SERVER
    if rate is not None:
        config.sla.rate_per_s = rate
    run_study(config, out, profile, cache, fresh, device, executor, lanes)


def register(app: typer.Typer) -> None:
    app.command("load")(load)
