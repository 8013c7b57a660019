"""edgewise run: the whole study, resumable, into one directory."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from edgewise.commands import options
from edgewise.commands.progress import StudyProgress
from edgewise.config import StudyConfig, load_study
from edgewise.study import RunOptions, Study
from edgewise.vocabulary import QUICK, SERVER


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
    run_study(load_study(study), out, profile, cache, fresh, device, executor, lanes)


def run_study(config: StudyConfig, out: Path, profile: str, cache: Path, fresh: bool, device: str,
              executor: str | None, lanes: int | None) -> None:
    """The one path of `run` and `load`: every option reaches the study, whatever its scenario."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    with StudyProgress() as progress:
        opts = RunOptions(out=out, profile=profile, cache_dir=cache, fresh=fresh, device=_device(device),
                          log=progress.log, progress=progress, executor=executor, lanes=lanes)
        results = Study.open(config, opts).run()
    typer.echo(f"results: {results}")
    shown = (("load summary", "load.md"), ("load report", "load.html")) if config.measure.scenario == SERVER else ()
    for label, name in (*shown, ("summary", "summary.md"), ("report", "report.html")):
        if (out / name).exists():
            typer.echo(f"{label}: {out / name}")


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
