"""Line charts with confidence bands: latency against bandwidth, accuracy against latency per setting."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from edgewise.report.svg import Canvas, Scale


@dataclass(frozen=True)
class LinePoint:
    x: float
    y: float
    label: str = ""  # written beside the point (a setting), or nothing
    tip: str = ""
    band: tuple[float, float] | None = None  # the y interval drawn as a shaded band


@dataclass
class Series:
    label: str
    colour: str
    points: list[LinePoint] = field(default_factory=list)


def line_chart(title: str, series: list[Series], x_label: str, y_label: str, log_x: bool = False,
               log_y: bool = False) -> str:
    """One line per series through its points (in x order), each with its band where given."""
    left, right, top, bottom = 70, 470, 30, 250
    legend_h = 16 * len(series)
    xs = [p.x for s in series for p in s.points]
    ys = [v for s in series for p in s.points for v in (p.y, *(p.band or ()))]
    sx = Scale.fit(xs, left, right, log=log_x and all(x > 0 for x in xs), pad=0.06)
    sy = Scale.fit(ys, bottom, top, log=log_y and all(y > 0 for y in ys), pad=0.08)
    c = Canvas(500, 300 + legend_h, title)
    c.text(left, 16, title, size=12, weight="bold")
    c.x_axis(sx, bottom, x_label + (", log scale" if sx.log else ""), top=top)
    c.y_axis(sy, left, y_label + (", log scale" if sy.log else ""), right=right)
    for s in series:
        points = sorted(s.points, key=lambda p: p.x)
        banded = [p for p in points if p.band is not None]
        if len(banded) > 1:
            upper = " ".join(f"{sx(p.x):.1f},{sy(p.band[1]):.1f}" for p in banded)
            lower = " ".join(f"{sx(p.x):.1f},{sy(p.band[0]):.1f}" for p in reversed(banded))
            c.add(f'<polygon points="{upper} {lower}" fill="{s.colour}" fill-opacity="0.15" stroke="none">'
                  f"<title>{escape(s.label)}: 95% CI</title></polygon>")
        if len(points) > 1:
            c.polyline([(sx(p.x), sy(p.y)) for p in points], stroke=s.colour, width=1.8)
        for p in points:
            c.circle(sx(p.x), sy(p.y), 3.5, s.colour, tip=p.tip or f"{s.label}: {p.y:.3g}", stroke="#fff")
            if p.label:
                c.text(sx(p.x) + 6, sy(p.y) - 6, p.label, size=9, fill="#444")
    for i, s in enumerate(series):
        y = bottom + 50 + 16 * i
        c.rect(left, y - 9, 10, 10, s.colour)
        c.text(left + 14, y, s.label, size=10)
    return c.render()
