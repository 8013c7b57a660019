"""The edgewise command line: one command per verb, each in edgewise/commands/<verb>.py."""

from __future__ import annotations

import sys

import typer

from edgewise.commands import (
    analyze,
    build,
    compare,
    export,
    load,
    operators,
    plan,
    recommend,
    report,
    run,
    serve,
    subjects,
    testbed,
)
from edgewise.errors import EdgewiseError

app = typer.Typer(
    name="edgewise",
    help="Which deployment operator, on which tier, meets my latency budget at an accuracy drop I accept?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module exposes register(app); this order is the order `edgewise --help` lists them in.
for command in (plan, build, run, load, analyze, recommend, compare, report, export, serve, testbed, subjects, operators):
    command.register(app)


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
