"""The report's account of the host while the study measured: its speed against nominal over the run, each
tier's headroom, and the samples the host was too slow to take at their device's speed."""

from __future__ import annotations

import time

from edgewise.report.htmlparts import figures, how_to_read, note, section, table
from edgewise.report.lines import LinePoint, Series, line_chart
from edgewise.report.svg import fmt
from edgewise.report.tables import ReportContext

HOST_COLOUR = "#1f77b4"
LIMIT_COLOUR = "#d62728"


def drift(ctx: ReportContext) -> str:
    """The section, or "" for a study whose tiers follow no nominal speed (real hosts, older stores)."""
    record = ctx.results.study.get("drift") or {}
    if not record:
        return ""
    parts = [how_to_read("Each emulated tier is a device with an absolute speed: a share of this host's nominal "
                         "speed, measured when the host was quiet. The line is how much slower than nominal the host "
                         "ran while the study measured; the tiers divided it out of every request. A tier at speed s "
                         "can be held while the host is at most 1/s times slower: its headroom.")]
    nominal = record.get("nominal") or {}
    if nominal:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(nominal.get("measured", 0)))
        times = ", ".join(f"{name} workload {fmt(s * 1e3)} ms" for name, s in (nominal.get("workloads_s") or {}).items())
        parts.append(note(f"Nominal host: {nominal.get('cpu', '–')}, measured {when}: {times}."))
    series = record.get("series") or []
    if series:
        host = Series("host time / nominal", HOST_COLOUR,
                      [LinePoint(t / 60, f, tip=f"{fmt(t / 60)} min: host {fmt(f)}x its nominal time")
                       for t, f in series])
        charts = [line_chart("The host's speed while measuring", [host, *_limits(record, series)],
                             "minutes since the first sample", "time / nominal time")]
        parts.append(figures(charts))
    factor = record.get("factor") or {}
    if factor:
        parts.append(note(f"The host ran {fmt(factor['median'])}x its nominal time in the median sample "
                          f"(p10 {fmt(factor['p10'])}x, p90 {fmt(factor['p90'])}x, slowest {fmt(factor['max'])}x)."))
    rows = [[tier, h.get("speed"), h.get("median"), h.get("p10"), h.get("least")]
            for tier, h in (record.get("headroom") or {}).items()]
    if rows:
        parts.append(table(["tier", "speed (of nominal)", "headroom, median sample", "headroom, p10",
                            "headroom, slowest sample"], rows,
                           caption="How much slower the host could still get before a tier could not be held",
                           sortable=False))
    parts.append(note(_unheld_words(record.get("unheld") or {}, ctx)))
    return section("drift", "The host while measuring", "".join(parts))


def _limits(record: dict, series: list) -> list[Series]:
    """A flat line per tier at 1 / speed, where its speed could no longer be held (only those the y range nears)."""
    top = max(f for _, f in series)
    x0, x1 = series[0][0] / 60, series[-1][0] / 60
    out = []
    for tier, h in (record.get("headroom") or {}).items():
        limit = 1 / h["speed"] if h.get("speed") else None
        if limit is not None and limit <= max(1.5, top * 1.2):
            out.append(Series(f"{tier}: 1/speed, beyond it not held", LIMIT_COLOUR,
                              [LinePoint(x0, limit, tip=f"{tier} limit {fmt(limit)}x"),
                               LinePoint(x1, limit, tip=f"{tier} limit {fmt(limit)}x")]))
    return out


def _unheld_words(unheld: dict, ctx: ReportContext) -> str:
    taken, kept = unheld.get("taken_again", 0), unheld.get("kept", 0)
    if not taken and not kept:
        return "Every sample was taken at its device's speed: the host kept headroom for every tier throughout."
    spans = unheld.get("spans") or []
    during = sum(b - a for a, b in spans)
    text = (f"{taken} sample(s) were taken while the host was too slow for their tier's speed, in {len(spans)} "
            f"stretch(es) over {fmt(during)} s of the run; each was set aside and measured again "
            f"(the loop waited {fmt(unheld.get('waited_s', 0.0))} s in all for the host to recover).")
    if kept:
        cells = [c.name for c in ctx.results.cells if c.unheld_kept]
        text += (f" {kept} sample(s) are kept although still unheld when the waiting budget ran out, in "
                 f"{', '.join(cells[:6])}{' …' if len(cells) > 6 else ''}: read those cells with care.")
    else:
        text += " None is kept: every figure stands on samples taken at the device's speed."
    return text
