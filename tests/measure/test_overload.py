"""Offered ten times what it sustains for a few seconds, a tier answers every request with a result
or an explicit busy reply, keeps its memory bounded, and serves normally right after."""

from __future__ import annotations

from edgewise.measure.overload import overload


def test_overload_gets_results_or_busy_replies_and_recovers(tmp_path):
    figures = overload(tmp_path, seconds=3.0, factor=10.0, work_s=0.01)
    assert figures["server_alive"] and figures["error"] == 0, figures["first_error"]
    assert figures["ok"] + figures["busy"] == figures["requests"] == figures["scheduled"]
    assert figures["busy"] > figures["ok"]  # most of a 10x load is refused, not queued without bound
    # The one worker kept serving through the overload, at about its own rate.
    assert figures["served_rate_per_s"] >= 0.5 / (figures["service_ms_before"] / 1e3)
    assert figures["peak_rss_mb"]["during"] - figures["peak_rss_mb"]["before"] < 64
    # Right after: one request at a time, no backlog, the service time of the same order (a wall-clock
    # sleep on a shared host wakes late at times).
    assert figures["queue_ms_after_max"] < figures["service_ms_before"]  # never behind another request
    assert figures["service_ms_after"] < 3 * figures["service_ms_before"]
