"""The edgewise command line: one command per verb, each in edgewise/commands/<verb>.py."""

from __future__ import annotations

import importlib
import sys

import typer

from edgewise.errors import EdgewiseError

app = typer.Typer(
    name="edgewise",
    help="Which deployment operator, on which tier, meets my latency budget at an accuracy drop I accept?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module exposes register(app). Listed here so `edgewise --help` shows a stable order.
COMMAND_MODULES = ("plan", "build", "run", "load", "analyze", "recommend", "report", "export", "serve", "testbed",
                   "subjects", "operators")


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"edgewise.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"edgewise.commands.{name}":
                continue  # a verb not installed in this build
            raise
        module.register(app)


_register_all()


def main() -> None:
    try:
        app()
    except EdgewiseError as exc:
        # One actionable line, exit code 2: the user can fix this.
        typer.secho(f"edgewise: error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.secho("edgewise: interrupted; run the same command again to resume", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
