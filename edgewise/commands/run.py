"""edgewise run: the whole study, resumable, into one directory."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from edgewise.commands import options
from edgewise.commands.load import load
from edgewise.commands.progress import StudyProgress
from edgewise.config import load_study
from edgewise.study import RunOptions, Study
from edgewise.vocabulary import QUICK


def run(
    study: Path = typer.Argument(..., help="study file (YAML)"),
    out: Path = typer.Option(..., "--out", "-o", help="directory for study.sqlite, results.json, summary.md, report.html"),
    profile: str = typer.Option(QUICK, help="quick (trimmed inputs, passes and training) or paper (the reference protocol)"),
    cache: Path = options.CACHE,
    fresh: bool = typer.Option(False, "--fresh", help="discard what OUT holds and start over"),
    device: str = options.DEVICE,
    executor: str | None = options.EXECUTOR,
    lanes: int | None = options.LANES,
) -> None:
    """Plan, build, deploy, measure, analyse and report a study. Run it again to resume.

    Example: edgewise run examples/paper.yaml --out runs/default --profile quick
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    config = load_study(study)
    if config.measure.scenario == "server":
        return load(study, out, profile, cache, None)
    with StudyProgress() as progress:
        options = RunOptions(out=out, profile=profile, cache_dir=cache, fresh=fresh, device=_device(device),
                             log=progress.log, progress=progress, executor=executor, lanes=lanes)
        results = Study.open(config, options).run()
    typer.echo(f"results: {results}")
    for name in ("summary.md", "report.html"):
        if (out / name).exists():
            typer.echo(f"{name.split('.')[0]}: {out / name}")


def _device(choice: str) -> str:
    if choice != "auto":
        return choice
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def register(app: typer.Typer) -> None:
    app.command("run")(run)
