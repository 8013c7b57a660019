"""The server scenario's report: per cell, latency percentiles against offered rate, the largest
sustainable rate with its bound, and the SLA answered at its rate (load.md and load.html)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from edgewise.analysis.load import LoadCell, read_load, recommend_at_rate
from edgewise.report.svg import Canvas, Scale, fmt
from edgewise.sla import Sla
from edgewise.vocabulary import OK

_LINES = (("p50_s", "p50", "#0072B2", None), ("p90_s", "p90", "#E69F00", None), ("p95_s", "p95", "#D55E00", None),
          ("p99_s", "p99", "#CC79A7", "4 3"))


def rate_chart(cell: LoadCell, max_latency_ms: float, percentile: int) -> str:
    """Latency percentiles (served requests) and the SLA percentile's bound against offered rate."""
    steps = [s for s in cell.steps if s.get("p50_s") is not None]
    left, right, top, bottom = 70, 560, 34, 250
    title = f"{cell.name}: latency against offered rate"
    c = Canvas(right + 150, bottom + 46, title)
    c.text(left, 18, title, size=13, weight="bold")
    if not steps:
        c.text(left, top + 20, "no offered rate was served")
        return c.render()
    rates = [s["rate_per_s"] for s in steps]
    values = [s[k] * 1e3 for s in steps for k, *_ in _LINES if s.get(k)]
    values += [s["bound"]["value_s"] * 1e3 for s in steps if s.get("bound") and s["bound"]["value_s"] < float("inf")]
    x = Scale.fit(rates, left, right, include=(0.0,))
    y = Scale.fit(values, bottom, top, log=True, include=(max_latency_ms,))
    c.x_axis(x, bottom, "offered rate (requests/s, Poisson)", top=top)
    c.y_axis(y, left, "latency (ms), log", right=right)
    for key, label, colour, dash in _LINES:
        points = [(x(s["rate_per_s"]), y(s[key] * 1e3)) for s in steps if s.get(key)]
        c.polyline(points, colour, dash=dash)
        c.text(right + 8, points[-1][1] + 3, label, size=10, fill=colour)
    for s in steps:
        bound = s.get("bound")
        if bound and bound["value_s"] < float("inf"):
            tip = (f"{s['rate_per_s']:.4g}/s: p{percentile} bound {bound['value_s'] * 1e3:.4g} ms (order statistic "
                   f"{bound['order_index']} of {bound['n']}); {s['busy']} busy of {s['requests']}")
            c.circle(x(s["rate_per_s"]), y(bound["value_s"] * 1e3), 4, "#111" if s["holds"] else "#fff", tip=tip,
                     stroke="#111")
    c.line(left, y(max_latency_ms), right, y(max_latency_ms), stroke="#C00", dash="5 3")
    c.text(right + 8, y(max_latency_ms) + 3, f"limit {max_latency_ms:g} ms", size=10, fill="#C00")
    if cell.max_rate_per_s:
        c.line(x(cell.max_rate_per_s), top, x(cell.max_rate_per_s), bottom, stroke="#111", dash="2 3")
    if cell.capacity_per_s:
        cap = x(min(cell.capacity_per_s, x.hi))
        c.line(cap, top, cap, bottom, stroke="#999", dash="6 3")
        c.text(cap, top - 4, "1 / service time", anchor="middle", size=10, fill="#666")
    return c.render()


def _cell_rows(cells: list[LoadCell], percentile: int) -> list[list[str]]:
    rows = []
    for cell in cells:
        if cell.status != OK:
            rows.append([cell.name, cell.status, "–", "–", "–", "–", cell.error or ""])
            continue
        bound = cell.bound_at_max
        peak = max((v for s in cell.steps for v in (s.get("peak_rss_mb") or {}).values()), default=float("nan"))
        rows.append([cell.name, "ok", f"{cell.service_s * 1e3:.3g} ms", f"{fmt(cell.capacity_per_s)}/s",
                     f"{fmt(cell.max_rate_per_s)}/s" if cell.max_rate_per_s else "none held",
                     (f"p{percentile} ≤ {bound['value_s'] * 1e3:.4g} ms (order statistic {bound['order_index']} of "
                      f"{bound['n']}, {bound['confidence']:.0%})") if bound else "–",
                     f"peak RSS {fmt(peak)} MiB; {sum(s['busy'] for s in cell.steps)} busy replies in "
                     f"{sum(s['requests'] for s in cell.steps)} requests over {len(cell.steps)} rates"])
    return rows


_HEADERS = ["cell", "status", "median service", "1 / service", "largest sustainable rate", "its bound", "notes"]


def _answer_rows(cells: list[LoadCell], rate: float) -> list[list[str]]:
    rows = []
    for subject, verdicts in recommend_at_rate(cells, rate).items():
        held = [v for v in verdicts if v.holds]
        best = held[0] if held else None
        rows.append([subject, best.cell.name if best else "none",
                     f"{len(held)} of {len(verdicts)} cells hold", best.evidence if best else verdicts[0].evidence])
    return rows


def load_markdown(study: dict, cells: list[LoadCell]) -> str:
    sla = Sla.of(study)
    p, limit = sla.percentile, sla.max_latency_ms
    lines = [f"# edgewise load: {study['name']}", "",
             f"SLA: p{p} latency ≤ {limit:g} ms"
             + (f" at {sla.rate_per_s:g} requests/s" if sla.rate_per_s else "")
             + ", judged on MLPerf's early-stopping upper bound (99% confidence; busy replies count as unserved); "
             f"{study['requests_per_step']} Poisson requests per offered rate.", ""]
    if sla.rate_per_s:
        lines += [f"## Which cell holds p{p} at {sla.rate_per_s:g}/s", "",
                  "| subject | best cell | cells | evidence |", "|---|---|---|---|",
                  *["| " + " | ".join(r) + " |" for r in _answer_rows(cells, sla.rate_per_s)], ""]
    lines += ["## Largest sustainable rate per cell", "", "| " + " | ".join(_HEADERS) + " |",
              "|" + "---|" * len(_HEADERS), *["| " + " | ".join(r) + " |" for r in _cell_rows(cells, p)], ""]
    return "\n".join(lines)


def load_html(study: dict, cells: list[LoadCell]) -> str:
    sla = Sla.of(study)
    body = [f"<h1>edgewise load: {escape(study['name'])}</h1>"]
    md_table = load_markdown(study, cells).split("\n")
    body.append("<pre>" + escape("\n".join(md_table)) + "</pre>")
    body += [rate_chart(c, sla.max_latency_ms, sla.percentile) for c in cells if c.status == OK]
    return ("<!doctype html><html><head><meta charset='utf-8'><title>edgewise load</title></head><body>"
            + "".join(body) + "</body></html>")


def write_load_report(path: Path, out: Path) -> None:
    study, cells = read_load(path)
    (out / "load.md").write_text(load_markdown(study, cells))
    (out / "load.html").write_text(load_html(study, cells))
