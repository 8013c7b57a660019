"""Samples the host is too slow to take at their device's speed: marked, set aside, measured again once the
host recovers, and kept marked only when it never does (a real tier server, its board and the request loop)."""

from __future__ import annotations

import threading
import time

import pytest

from edgewise.measure.latency import Block, CellJob, Headroom, Protocol, measure_subject
from edgewise.output.store import Store
from edgewise.tiers.client import TierClient
from edgewise.tiers.hostspeed import MIN_PROBES, Board
from edgewise.tiers.reference import workload_input, workload_path
from edgewise.tiers.server import ServerConfig, TierServer
from edgewise.tiers.spec import CLIENT, Route


def host_says(board: Board, factor: float, probes: int = MIN_PROBES) -> None:
    """Post `probes` probes saying the host runs `factor` times slower than nominal."""
    now = time.monotonic()
    for i in range(probes):
        board.post(now + 0.001 * i, factor)


@pytest.fixture
def edge(tmp_path, monkeypatch):
    """An edge tier at 0.8 of the nominal host, following a board the test writes, serving the 3 ms
    reference workload (a step long enough that running late is never timer jitter)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    board = Board(Board.create(tmp_path / "board"))
    server = TierServer(ServerConfig(tier="edge", speed=0.8, host_board=str(tmp_path / "board"))).start()
    client = TierClient({"edge": server.address})
    client.load("edge", "work", workload_path("3ms"), "full", None)
    yield board, client
    client.close()
    server.stop()


def measure(edge, tmp_path, headroom: Headroom) -> Store:
    _, client = edge
    store = Store(tmp_path / "study.sqlite")
    job = CellJob("work:identity@edge", Route((("edge", "full"),), ((CLIENT, "edge"),)), "work")
    measure_subject([Block(None, [job])], [b""], Protocol(4, 2, 1, warmup_inputs=1), store,
                    lambda j, _: client.infer(j.route, j.artifact_id, workload_input()), lambda tier: None, seed=0,
                    headroom=headroom)
    return store


def test_samples_without_headroom_are_measured_again_once_the_host_recovers(edge, tmp_path):
    board, _ = edge
    host_says(board, 3.0)  # a device at 0.8 of nominal needs 0.42 of each step's time here: nothing holds
    recovered = threading.Timer(0.4, host_says, (board, 1.0, 3 * MIN_PROBES))  # outnumbers the slow ones
    recovered.start()
    store = measure(edge, tmp_path, Headroom(pauses_s=(0.5, 0.5, 1.0), budget_s=10.0))
    recovered.join()
    unheld = store.unheld()
    samples = store.pacing()
    assert unheld and {u["cell"] for u in unheld} == {"work:identity@edge"}
    assert all(u["pacing"]["edge"]["late_s"] > 0 for u in unheld)
    # Taken while the host said it ran 3x slower than nominal (others may follow: a busy host that takes
    # the core from a step also makes it late).
    assert any(u["pacing"]["edge"]["host"] > 1 / 0.8 for u in unheld)
    measured = [s for s in samples if s[2]["edge"]["host"] == pytest.approx(1.0)]
    assert store.sample_count("work:identity@edge") == 5 and store.unheld_kept("work:identity@edge") == 0
    assert len(measured) >= 4  # every measured sample was taken again at the recovered speed
    assert any(e["kind"] == "headroom-wait" for e in store.events())


def test_samples_the_host_never_recovers_for_are_kept_marked(edge, tmp_path):
    board, _ = edge
    host_says(board, 3.0)
    store = measure(edge, tmp_path, Headroom(pauses_s=(0.1,), budget_s=0.1))
    assert store.sample_count("work:identity@edge") == 5
    assert store.unheld_kept("work:identity@edge") == 4  # the measured pass; the warm-up is never retaken
    assert any(e["kind"] == "headroom-kept" for e in store.events())
