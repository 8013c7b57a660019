"""Options that several verbs share, declared once so their names, defaults and help agree."""

from __future__ import annotations

import typer

from edgewise.study import DEFAULT_CACHE

CACHE = typer.Option(DEFAULT_CACHE, help="where trained teachers and built artifacts are kept")
EXECUTOR = typer.Option(None, "--executor", help="where builds and measurements run: local, ray or ray=ADDRESS "
                                                  "(default: the study file's executor, else local)")
LANES = typer.Option(None, "--lanes", min=1,
                     help="local builds side by side (default: one per core; 1: one after the other in this process)")
DEVICE = typer.Option("auto", help="training device: auto, cpu or cuda")
