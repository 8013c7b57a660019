"""Small HTML building blocks: escaped tables (sortable by the page's script), notes, figures."""

from __future__ import annotations

import math
from html import escape


def cell_value(value: object) -> tuple[str, str]:
    """(text shown, sort key) for a table cell; numbers sort numerically."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–", ""
        text = f"{value:,.3g}" if abs(value) >= 1000 or abs(value) < 0.01 and value != 0 else f"{value:,.{_decimals(value)}f}"
        return text, repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}", str(value)
    if value is None:
        return "–", ""
    return str(value), str(value)


def _decimals(value: float) -> int:
    return 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2 if abs(value) >= 1 else 3


def table(headers: list[str], rows: list[list[object]], caption: str = "", sortable: bool = True,
          classes: dict[int, str] | None = None) -> str:
    """An HTML table; cells that are numbers carry data-sort so the page's script sorts them as numbers."""
    classes = classes or {}
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        tds = []
        for i, value in enumerate(row):
            text, key = cell_value(value)
            cls = f' class="{classes[i]}"' if i in classes else (' class="num"' if isinstance(value, (int, float)) else "")
            tds.append(f'<td data-sort="{escape(key)}"{cls}>{escape(text)}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    sort = ' class="sortable"' if sortable else ""
    return f"<table{sort}>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def how_to_read(text: str) -> str:
    return f'<p class="how">How to read this: {escape(text)}</p>'


def note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def figures(svgs: list[str]) -> str:
    return '<div class="figures">' + "".join(f"<figure>{s}</figure>" for s in svgs) + "</div>"


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{body}</section>'
