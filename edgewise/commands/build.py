"""edgewise build: the artifacts of a study's cells, without deploying or measuring them."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from edgewise.commands import options, plain
from edgewise.commands.progress import StudyProgress
from edgewise.commands.run import _device
from edgewise.config import load_study
from edgewise.study import RunOptions, Study
from edgewise.vocabulary import QUICK


def build(
    study: Path = typer.Argument(..., help="study file (YAML)"),
    profile: str = typer.Option(QUICK, help="quick or paper training schedules"),
    cache: Path = options.CACHE,
    device: str = options.DEVICE,
    executor: str | None = options.EXECUTOR,
    lanes: int | None = options.LANES,
) -> None:
    """Build (or find in the cache) every artifact the study needs.

    Example: edgewise build examples/paper.yaml --profile quick
    """
    config = load_study(study)
    with StudyProgress() as progress:
        built = Study.open(config, RunOptions(out=Path("."), profile=profile, cache_dir=cache, device=_device(device),
                                              log=progress.log, progress=progress, executor=executor,
                                              lanes=lanes)).build_only()
    table = Table(title="artifacts")
    for col in ("cell", "artifact", "size", "note"):
        table.add_column(col)
    for b in built:
        if b.artifact is None:
            plain.add_row(table, b.cell.name, "-", "-", Text(str(b.error), style="red"))
        else:
            warnings = "; ".join(b.artifact.meta.get("warnings", []))
            plain.add_row(table, b.cell.name, b.artifact.key, f"{b.artifact.size_bytes / 1e6:.2f} MB", warnings)
    Console().print(table)
    if any(b.artifact is None for b in built):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("build")(build)
