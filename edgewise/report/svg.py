"""Minimal SVG drawing: scales with readable ticks, and escaped primitives.

The report draws its own SVG instead of shipping a plotting library: a page of a few hundred
kilobytes that opens instantly offline, prints, and shows values on hover via <title>.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif"


def fmt(value: float, digits: int = 3) -> str:
    """A number with `digits` significant figures, without scientific notation for usual ranges."""
    if value is None or not math.isfinite(value):
        return "–"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:,.{decimals}f}"


@dataclass(frozen=True)
class Scale:
    """Maps data values in [lo, hi] to pixels in [px0, px1], linearly or on log10."""

    lo: float
    hi: float
    px0: float
    px1: float
    log: bool = False

    @classmethod
    def fit(cls, values: list[float], px0: float, px1: float, log: bool = False, pad: float = 0.04,
            include: tuple[float, ...] = ()) -> "Scale":
        vals = [v for v in (*values, *include) if v is not None and math.isfinite(v) and (v > 0 or not log)]
        lo, hi = (min(vals), max(vals)) if vals else (1.0, 10.0)
        if log:
            llo, lhi = math.log10(lo), math.log10(hi)
            if lhi - llo < 1e-9:
                llo, lhi = llo - 0.5, lhi + 0.5
            span = lhi - llo
            return cls(10 ** (llo - pad * span), 10 ** (lhi + pad * span), px0, px1, True)
        if hi - lo < 1e-12:
            half = abs(lo) * 0.02 or 1.0  # one value: a narrow window around it, not a huge one
            lo, hi = lo - half, hi + half
        span = hi - lo
        return cls(lo - pad * span, hi + pad * span, px0, px1, False)

    def __call__(self, value: float) -> float:
        if self.log:
            value = max(value, self.lo * 1e-3)
            t = (math.log10(value) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            t = (value - self.lo) / (self.hi - self.lo)
        return self.px0 + t * (self.px1 - self.px0)

    def ticks(self, count: int = 6) -> list[float]:
        return _log_ticks(self.lo, self.hi) if self.log else _linear_ticks(self.lo, self.hi, count)


def _linear_ticks(lo: float, hi: float, count: int) -> list[float]:
    raw = (hi - lo) / max(count, 1)
    step = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= step * mult:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step) + 1)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    # Few decades: 1-2-5 ticks keep the axis readable; many decades: powers of ten only.
    mults = (1, 2, 5) if len(decades) <= 4 else (1,)
    return [m * 10**d for d in decades for m in mults if lo <= m * 10**d <= hi]


@dataclass
class Canvas:
    """An SVG document built element by element; `render` wraps it with an accessible title."""

    width: int
    height: int
    title: str
    parts: list[str] = field(default_factory=list)

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(self, x: float, y: float, content: str, anchor: str = "start", size: int = 11,
             weight: str = "normal", fill: str = "#333", rotate: float | None = None) -> None:
        transform = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
                 f'font-weight="{weight}" fill="{fill}"{transform}>{escape(content)}</text>')

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = "#999", width: float = 1,
             dash: str | None = None) -> None:
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" '
                 f'stroke-width="{width}"{dashed}/>')

    def rect(self, x: float, y: float, w: float, h: float, fill: str, tip: str | None = None,
             stroke: str = "none", opacity: float = 1.0) -> None:
        body = f"<title>{escape(tip)}</title>" if tip else ""
        self.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" fill="{fill}" '
                 f'stroke="{stroke}" fill-opacity="{opacity}">{body}</rect>')

    def circle(self, x: float, y: float, r: float, fill: str, tip: str | None = None, stroke: str = "none") -> None:
        body = f"<title>{escape(tip)}</title>" if tip else ""
        self.add(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{fill}" stroke="{stroke}">{body}</circle>')

    def polyline(self, points: list[tuple[float, float]], stroke: str, width: float = 1.5,
                 dash: str | None = None) -> None:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<polyline points="{coords}" fill="none" stroke="{stroke}" stroke-width="{width}"{dashed}/>')

    def x_axis(self, scale: Scale, y: float, label: str, top: float | None = None) -> None:
        """Ticks and labels under the plot at `y`; grid lines up to `top` when given."""
        self.line(scale.px0, y, scale.px1, y, stroke="#666")
        for tick in scale.ticks():
            x = scale(tick)
            if top is not None:
                self.line(x, top, x, y, stroke="#e4e4e4")
            self.line(x, y, x, y + 4, stroke="#666")
            self.text(x, y + 15, fmt(tick, 2), anchor="middle", size=10)
        self.text((scale.px0 + scale.px1) / 2, y + 31, label, anchor="middle", size=11)

    def y_axis(self, scale: Scale, x: float, label: str, right: float | None = None) -> None:
        self.line(x, scale.px0, x, scale.px1, stroke="#666")
        for tick in scale.ticks(5):
            y = scale(tick)
            if right is not None:
                self.line(x, y, right, y, stroke="#e4e4e4")
            self.line(x - 4, y, x, y, stroke="#666")
            self.text(x - 6, y + 3.5, fmt(tick, 3), anchor="end", size=10)
        mid = (scale.px0 + scale.px1) / 2
        self.text(x - 42, mid, label, anchor="middle", size=11, rotate=-90)

    def render(self) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{escape(self.title)}" '
                f'viewBox="0 0 {self.width} {self.height}" width="{self.width}" height="{self.height}" '
                f'style="{FONT}"><title>{escape(self.title)}</title>' + "".join(self.parts) + "</svg>")
