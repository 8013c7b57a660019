"""The report's charts, each a function from plain numbers to one SVG string.

Colours: one map chain -> colour for the whole report (`chain_colours`), so a chain looks the
same in every chart; breakdown components have their own fixed map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edgewise.report.source import chain_facts
from edgewise.report.svg import Canvas, Scale, fmt
from edgewise.tiers import parts

# Colour-blind-safe first (Okabe-Ito), then Tableau for longer lists of chains.
_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#8C564B", "#7F7F7F",
            "#BCBD22", "#17BECF", "#9467BD", "#F0E442", "#1F3A93", "#A0522D")
_KNOWN_ORDER = ("identity", "sptq", "qat", "prune", "distill", "distill+sptq", "early-exit", "sptq+early-exit",
                "partition", "sptq+partition", "sptq+early-exit+partition")


def chain_order_key(chain: str, results=None) -> tuple:
    """By the chain's operators' display orders, highest first (distill+sptq just after distill)."""
    return (tuple(sorted(chain_facts(chain, results)["order"], reverse=True)), chain)


def chain_colours(chains: list[str]) -> dict[str, str]:
    """Known chains keep the same colour in every report; others take the next free ones."""
    colours = {c: _PALETTE[i] for i, c in enumerate(_KNOWN_ORDER) if c in chains}
    free = [p for p in _PALETTE if p not in colours.values()]
    for i, chain in enumerate(c for c in dict.fromkeys(chains) if c not in colours):  # in the order given
        colours[chain] = free[i % len(free)] if free else _PALETTE[i % len(_PALETTE)]
    return colours


# Breakdown components: one hue per kind, shades for its tiers or links (in order of appearance).
_COMPONENT_SHADES = {parts.COMPUTE: ("#08519C", "#3182BD", "#6BAED6", "#9ECAE1"),
                     parts.LINK: ("#D55E00", "#F28E2B", "#A63603", "#FDAE6B"),
                     parts.PREPROCESS: ("#E6AB02", "#FFD92F", "#B8860B"),
                     parts.QUEUE: ("#7B3294", "#C2A5CF", "#9970AB"),
                     parts.CLIENT_ENCODE: ("#B0B0B0",), parts.DECODE: ("#7F7F7F",), "other": ("#DDDDDD",)}


def component_colours(components: list[str]) -> dict[str, str]:
    colours, used = {}, {}
    for name in components:
        kind = parts.parse(name)[0]
        shades = _COMPONENT_SHADES.get(kind, ("#CC79A7", "#E7A3C8"))
        colours[name] = shades[used.get(kind, 0) % len(shades)]
        used[kind] = used.get(kind, 0) + 1
    return colours


@dataclass(frozen=True)
class Box:
    """One latency distribution, already summarised (milliseconds)."""

    label: str
    group: str
    colour: str
    q1: float
    median: float
    q3: float
    whisker_lo: float
    whisker_hi: float
    ci_lo: float
    ci_hi: float
    n: int
    outliers: tuple[float, ...] = ()


def box_chart(title: str, boxes: list[Box], unit: str = "ms") -> str:
    """Horizontal box plots, one row per box, rows grouped under a heading per `group`."""
    groups = list(dict.fromkeys(b.group for b in boxes))
    row_h, head_h, left, right = 20, 20, 190, 880
    height = 40 + len(boxes) * row_h + len(groups) * head_h + 40
    values = [v for b in boxes for v in (b.whisker_lo, b.whisker_hi, *b.outliers)]
    positive = [v for v in values if v > 0]
    log = bool(positive) and max(positive) / min(positive) > 20
    scale = Scale.fit(values, left, right, log=log)
    c = Canvas(right + 30, height, title)
    c.text(left, 18, title, size=13, weight="bold")
    y = 36
    top = y
    for group in groups:
        c.text(8, y + 14, group, size=11, weight="bold", fill="#555")
        y += head_h
        for b in (b for b in boxes if b.group == group):
            mid = y + row_h / 2
            c.text(left - 8, mid + 4, b.label, anchor="end", size=11)
            c.line(scale(b.whisker_lo), mid, scale(b.q1), mid, stroke=b.colour)
            c.line(scale(b.q3), mid, scale(b.whisker_hi), mid, stroke=b.colour)
            tip = (f"{b.label} ({group}): median {fmt(b.median)} {unit} [95% CI {fmt(b.ci_lo)}–{fmt(b.ci_hi)}], "
                   f"IQR {fmt(b.q1)}–{fmt(b.q3)}, n={b.n}")
            c.rect(scale(b.q1), mid - 6, scale(b.q3) - scale(b.q1), 12, b.colour, tip=tip, opacity=0.35,
                   stroke=b.colour)
            c.rect(scale(b.ci_lo), mid - 6, max(scale(b.ci_hi) - scale(b.ci_lo), 1), 12, b.colour, opacity=0.6)
            c.line(scale(b.median), mid - 7, scale(b.median), mid + 7, stroke="#111", width=2)
            for v in b.outliers:
                c.circle(scale(v), mid, 1.6, b.colour)
            c.text(right + 4, mid + 4, fmt(b.median), size=9, fill="#555")
            y += row_h
    c.x_axis(scale, y + 6, f"end-to-end latency ({unit}{', log scale' if log else ''})", top=top)
    return c.render()


@dataclass(frozen=True)
class Point:
    label: str
    colour: str
    x: float
    y: float
    tip: str


def scatter_chart(title: str, points: list[Point], front: list[tuple[float, float]], x_label: str, y_label: str,
                  sla_x: float | None = None, sla_y_min: float | None = None) -> str:
    """Accuracy (y) against latency (x); the Pareto front as a step line, the SLA region shaded."""
    left, right, top, bottom = 70, 430, 30, 250
    xs = [p.x for p in points]
    log = bool(xs) and min(xs) > 0 and max(xs) / min(xs) > 20
    sx = Scale.fit(xs, left, right, log=log, pad=0.08, include=(sla_x,) if sla_x else ())
    sy = Scale.fit([p.y for p in points], bottom, top, pad=0.12, include=(sla_y_min,) if sla_y_min is not None else ())
    c = Canvas(460, 295, title)
    c.text(left, 16, title, size=12, weight="bold")
    if sla_x is not None and sla_y_min is not None:
        x_end = min(max(sx(sla_x), left), right)
        y_start = min(max(sy(sla_y_min), top), bottom)
        c.rect(left, top, x_end - left, y_start - top, "#2ca02c", opacity=0.10,
               tip=f"meets the SLA: latency ≤ {fmt(sla_x)} and accuracy ≥ {fmt(sla_y_min)}")
    c.x_axis(sx, bottom, x_label + (", log scale" if log else ""), top=top)
    c.y_axis(sy, left, y_label, right=right)
    if len(front) > 1:
        steps = [front[0]]
        for x, y in front[1:]:
            steps += [(x, steps[-1][1]), (x, y)]
        c.polyline([(sx(x), sy(y)) for x, y in steps], stroke="#333", width=1.2, dash="4 3")
    for p in points:
        c.circle(sx(p.x), sy(p.y), 5, p.colour, tip=p.tip, stroke="#fff")
        c.text(sx(p.x) + 7, sy(p.y) - 5, p.label, size=9, fill="#444")
    return c.render()


@dataclass
class StackedRow:
    label: str
    parts: list[tuple[str, float]] = field(default_factory=list)  # (component, milliseconds)


def stacked_bars(title: str, rows: list[StackedRow], unit: str = "ms") -> str:
    """Horizontal stacked bars: the mean time per request spent in each component."""
    left, right, row_h = 210, 760, 22
    components = list(dict.fromkeys(name for r in rows for name, _ in r.parts))
    colour = component_colours(components)
    legend_h = 18 * math.ceil(len(components) / 4)
    height = 40 + legend_h + len(rows) * row_h + 44
    scale = Scale(0, max((sum(v for _, v in r.parts) for r in rows), default=1) * 1.05 or 1, left, right)
    c = Canvas(right + 60, height, title)
    c.text(left, 18, title, size=13, weight="bold")
    for i, name in enumerate(components):
        x, y = left + (i % 4) * 140, 32 + (i // 4) * 18
        c.rect(x, y - 9, 10, 10, colour[name])
        c.text(x + 14, y, name, size=10)
    y = 40 + legend_h
    top = y
    for row in rows:
        c.text(left - 8, y + row_h / 2 + 4, row.label, anchor="end", size=11)
        x = left
        total = sum(v for _, v in row.parts)
        for name, value in row.parts:
            w = scale(value) - left
            c.rect(x, y + 3, w, row_h - 6, colour[name], stroke="#fff",
                   tip=f"{row.label} — {name}: {fmt(value)} {unit} ({100 * value / total if total else 0:.0f}%)")
            x += w
        c.text(x + 4, y + row_h / 2 + 4, fmt(total), size=9, fill="#555")
        y += row_h
    c.x_axis(scale, y + 4, f"mean time per request ({unit})", top=top)
    return c.render()


@dataclass(frozen=True)
class Range:
    label: str
    colour: str
    lo: float
    mean: float
    hi: float
    tip: str


def range_chart(title: str, rows: list[Range], x_label: str, reference: float = 1.0) -> str:
    """Min–max bars with the mean marked, against a reference line (1× = no speed-up)."""
    left, right, row_h = 190, 700, 22
    height = 40 + len(rows) * row_h + 44
    values = [v for r in rows for v in (r.lo, r.hi) if v > 0] + [reference]
    scale = Scale.fit(values, left, right, log=True, pad=0.06)
    c = Canvas(right + 70, height, title)
    c.text(left, 18, title, size=13, weight="bold")
    y = 32
    top = y
    for r in rows:
        mid = y + row_h / 2
        c.text(left - 8, mid + 4, r.label, anchor="end", size=11)
        c.rect(scale(r.lo), mid - 4, max(scale(r.hi) - scale(r.lo), 2), 8, r.colour, tip=r.tip, opacity=0.55)
        c.circle(scale(r.mean), mid, 4.5, r.colour, tip=r.tip, stroke="#111")
        c.text(right + 6, mid + 4, f"{fmt(r.mean, 2)}×", size=10, fill="#333")
        y += row_h
    c.line(scale(reference), top, scale(reference), y, stroke="#111", dash="3 3")
    c.x_axis(scale, y + 4, x_label + ", log scale", top=top)
    return c.render()


@dataclass(frozen=True)
class HeatCell:
    delta: float
    magnitude: str
    p_adjusted: float | None


def heatmap(title: str, labels: list[str], cells: dict[tuple[str, str], HeatCell], note: str = "") -> str:
    """A square matrix of Cliff's delta (row vs column): blue = row faster, red = row slower."""
    size, left, top = 56, 130, 40 + (14 if note else 0)
    width = left + size * len(labels) + 20
    c = Canvas(max(width, 300, 7 * len(title)), top + size * len(labels) + 80, title)  # room for the title
    c.text(8, 18, title, size=12, weight="bold")
    if note:
        c.text(8, 34, note, size=10, fill="#555")
    for j, col in enumerate(labels):
        c.text(left + size * j + size / 2, top + size * len(labels) + 14, col, anchor="end", size=10,
               rotate=-35)
    for i, row in enumerate(labels):
        c.text(left - 6, top + size * i + size / 2 + 4, row, anchor="end", size=10)
        for j, col in enumerate(labels):
            x, y = left + size * j, top + size * i
            cell = cells.get((row, col))
            if cell is None:
                c.rect(x, y, size, size, "#f4f4f4", stroke="#fff")
                continue
            p = "–" if cell.p_adjusted is None else fmt(cell.p_adjusted, 2)
            c.rect(x, y, size, size, _diverging(cell.delta), stroke="#fff",
                   tip=f"{row} vs {col}: Cliff's delta {cell.delta:+.2f} ({cell.magnitude}), adjusted p = {p}")
            ink = "#fff" if abs(cell.delta) > 0.6 else "#222"
            c.text(x + size / 2, y + size / 2 - 2, f"{cell.delta:+.2f}", anchor="middle", size=10, fill=ink)
            c.text(x + size / 2, y + size / 2 + 11, cell.magnitude[:3] + _stars(cell.p_adjusted), anchor="middle",
                   size=9, fill=ink)
    return c.render()


def _stars(p: float | None) -> str:
    if p is None:
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def _diverging(delta: float) -> str:
    """-1 (blue, row faster) .. 0 (white) .. +1 (red, row slower)."""
    t = max(-1.0, min(1.0, delta))
    end = (33, 102, 172) if t < 0 else (178, 24, 43)
    rgb = tuple(round(255 + (e - 255) * abs(t)) for e in end)
    return "#%02x%02x%02x" % rgb
