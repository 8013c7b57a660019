"""edgewise operators list: every registered operator with its kind, needs and parameters."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from edgewise.commands import plain
from edgewise.operators.base import OPERATORS, load_builtin_operators

operators_app = typer.Typer(help="Deployment operators (white-box train, black-box do not).", no_args_is_help=True)


@operators_app.command("list")
def list_operators() -> None:
    """List the registered operators.

    Example: edgewise operators list
    """
    load_builtin_operators()
    table = Table(title="operators")
    for col in ("name", "kind", "needs", "gives", "parameters (defaults)", "what it does"):
        table.add_column(col)
    for name in sorted(OPERATORS):
        op = OPERATORS[name]
        params = ", ".join(f"{k}={f.default!r}" for k, f in op.Params.model_fields.items())
        plain.add_row(table, name, op.kind, ",".join(sorted(op.requires)) or "-",
                      ",".join(sorted(op.produces | op.keeps)) or "-", params or "-", op.description)
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(operators_app, name="operators")
