"""Text for the terminal as written: rich reads square brackets as markup, and a user's names hold them
(`prune[ratio=0.3]`), so every value a table shows goes in as plain text."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text


def add_row(table: Table, *values: object) -> None:
    """A table row whose cells are shown as written (None as '-')."""
    table.add_row(*(value if isinstance(value, Text) else Text("-" if value is None else str(value))
                    for value in values))
