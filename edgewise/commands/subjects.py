"""edgewise subjects list: the built-in subjects with their task, size, input, metric and quality."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from edgewise.commands import plain
from edgewise.subjects.base import SUBJECTS, SubjectContext, _load_builtins

subjects_app = typer.Typer(help="Models to deploy: the built-in subjects (your own go in the study file).",
                           no_args_is_help=True)

DEFAULT_CACHE = Path(".edgewise-cache")


@subjects_app.command("list")
def list_subjects(
    cache: Path = typer.Option(DEFAULT_CACHE, "--cache", help="cache folder where trained teachers are looked up"),
    seed: int = typer.Option(0, help="seed the teachers were trained with"),
    profile: str = typer.Option("quick", help="profile the teachers were trained with (quick | paper)"),
) -> None:
    """List the built-in subjects; shows a teacher's quality once it is trained (never trains).

    Example: edgewise subjects list --cache .edgewise-cache
    """
    _load_builtins()
    ctx = SubjectContext(cache_dir=cache, seed=seed, profile=profile, log=lambda _: None)
    table = Table(title="subjects")
    for col in ("name", "task", "family", "parameters", "input", "metric", "teacher quality"):
        table.add_column(col)
    for name in sorted(SUBJECTS):
        info = SUBJECTS[name](ctx).describe()
        quality = info.get("teacher_quality")
        plain.add_row(table, name, info["task"], info["family"], _millions(info.get("parameters")), info.get("input", "-"),
                      ", ".join(info["metrics"]),
                      ", ".join(f"{k} {v:.3f}" for k, v in quality.items()) if quality else "not trained")
    Console().print(table)


def _millions(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f} M"


def register(app: typer.Typer) -> None:
    app.add_typer(subjects_app, name="subjects")
