"""The host's speed against nominal: the board the probe posts on, the probe itself, and what a tier
server does with it (a step's device time, and a step the host was too slow to hold)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgewise.tiers.hostspeed import MIN_PROBES, RING, WINDOW_S, Board, HostProbe, HostSpeed
from edgewise.tiers.reference import PROBE_WORKLOAD, ReferenceRunner
from edgewise.tiers.speed import LATE_FLOOR_S, Pace, held
from tests.tiers.speedcheck import within


@pytest.fixture(scope="module", autouse=True)
def workload_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
        yield


def post_many(board: Board, ratio: float, count: int = MIN_PROBES, at: float | None = None):
    at = time.monotonic() if at is None else at
    for i in range(count):
        board.post(at - 0.01 * (count - i), ratio)


def test_the_board_gives_the_median_of_the_recent_window(tmp_path):
    board = Board(Board.create(tmp_path / "b"))
    assert board.read() is None  # nothing posted: a tier keeps what it had
    now = time.monotonic()
    post_many(board, 3.0, count=MIN_PROBES, at=now - 2 * WINDOW_S)  # an old episode
    post_many(board, 1.2, count=MIN_PROBES + 2, at=now)
    factor = board.read(now)
    assert factor == pytest.approx(1.2)
    # A reader in another process maps the same file and sees the same figure.
    assert Board(tmp_path / "b").read(now) == factor


def test_after_a_quiet_spell_the_latest_probes_stand(tmp_path):
    board = Board(Board.create(tmp_path / "b"))
    now = time.monotonic()
    post_many(board, 1.1, count=3, at=now - 4 * WINDOW_S)
    post_many(board, 1.3, count=MIN_PROBES, at=now - 3 * WINDOW_S)  # all older than the window
    assert board.read(now) == pytest.approx(1.3)


def test_the_ring_keeps_only_the_newest_probes(tmp_path):
    board = Board(Board.create(tmp_path / "b"))
    post_many(board, 5.0, count=RING)
    post_many(board, 1.0, count=RING)  # overwrites every entry
    assert board.read() == pytest.approx(1.0)


def test_nominal_work_divides_by_the_factor(tmp_path):
    board = Board(Board.create(tmp_path / "b"))
    post_many(board, 1.25)
    host = HostSpeed(board)
    assert host.nominal_work(0.001) == pytest.approx(0.001 / 1.25)


def test_the_probe_posts_how_fast_the_host_runs_now(tmp_path):
    runner = ReferenceRunner(PROBE_WORKLOAD)
    runner.once()
    nominal = float(np.median([runner.once() for _ in range(30)]))
    board = Board(Board.create(tmp_path / "b"))
    probe = HostProbe(board, nominal)
    probe.warm()
    factor = board.read()
    assert 0.5 < factor < 2.0  # the same host a moment later: about its nominal speed
    # Against a nominal twice as fast as this host, the probe says the host runs twice as slow.
    HostProbe(board, nominal / 2).warm(RING)
    assert board.read() == pytest.approx(2 * factor, rel=0.5)


def test_a_step_is_held_to_its_device_time_against_the_nominal_host(tmp_path):
    """A board saying the host runs 1.5x slower than nominal: a step of 6 ms CPU is 4 ms nominal, and a
    tier at speed 0.25 holds it 16 ms (room enough for a busy host to take some of the step's core)."""
    board = Board(Board.create(tmp_path / "b"))
    post_many(board, 1.5)
    pace = Pace(0.25, 1, HostSpeed(board))

    def work() -> None:
        end = time.thread_time() + 0.006
        while time.thread_time() < end:
            pass

    def held_for() -> tuple[float, float]:
        t0 = time.perf_counter()
        _, late, _ = pace.run(work)
        return time.perf_counter() - t0, late

    device_s = 0.006 / 1.5 / 0.25  # not 0.024 s, as on a host at its nominal speed
    took, late = within(held_for, device_s, tolerance=0.1, also=lambda late: late == 0.0)
    assert late == 0.0
    # Never shorter than the device's time; longer by a late wake-up at most (a busy host wakes a sleeper late).
    assert device_s - 1e-4 <= took <= device_s * 1.15


def test_a_step_the_host_is_too_slow_for_is_reported_late(tmp_path):
    """The board says the host runs 2x slower than nominal: a device at 0.8 of nominal needs 0.625 of the
    step's time, so the step ends past its device time and is not held."""
    board = Board(Board.create(tmp_path / "b"))
    post_many(board, 2.0)
    pace = Pace(0.8, 1, HostSpeed(board))

    def work() -> None:
        end = time.thread_time() + 0.004
        while time.thread_time() < end:
            pass

    t0 = time.perf_counter()
    _, late, factor = pace.run(work)
    took = time.perf_counter() - t0  # the step's wall time: its CPU time and whatever the host took from it
    # Late by the step's wall time past its device time: at least its CPU time's excess (a busy host may add
    # more), at most what the whole call took.
    device_s = 0.004 / 1.6
    assert 0.004 - device_s - 1e-4 <= late <= took - device_s + 1e-4
    assert not held(late, 0.004 / 1.6) and factor == pytest.approx(2.0)
    assert held(LATE_FLOOR_S / 2, 0.0)  # timer jitter is not a host too slow


def spin_steps(*cpu_s: float):
    """A step whose n-th run spins `cpu_s[n]` seconds of CPU (the last figure for every later run), returning
    its run's number; and the list of its runs, to clear."""
    calls = []

    def step() -> int:
        calls.append(1)
        end = time.thread_time() + cpu_s[min(len(calls), len(cpu_s)) - 1]
        while time.thread_time() < end:
            pass
        return len(calls)

    return step, calls


def held_for(pace: Pace, step, calls: list, again) -> tuple[float, int]:
    """How long `pace` held one call of `step` (its first run pays a cold start), and how often it ran it."""
    calls.clear()
    t0 = time.perf_counter()
    out, late, _ = pace.run(step, again=again)
    assert late == 0.0 and out == 1
    return time.perf_counter() - t0, len(calls)


def test_a_short_step_is_held_for_its_warm_run(tmp_path):
    """A step whose first run pays a cold start (4 ms of CPU, then 2 ms warm): with `again` a tier at speed
    0.25 runs it twice inside its hold and holds it for the warm run's time, and returns the first run's
    output; a tier at 0.4, whose hold has room for the warm run but not for all it saves, holds it until it
    ends. Without `again`, or where the hold has no room to repeat it, the step runs once."""
    board = Board(Board.create(tmp_path / "b"))
    post_many(board, 1.0)
    step, calls = spin_steps(0.004, 0.002)
    slow = Pace(0.25, 1, HostSpeed(board))
    took, runs = within(lambda: held_for(slow, step, calls, "step"), 0.002 / 0.25, tolerance=0.1)
    assert runs == 2 and 0.008 - 1e-4 <= took < 0.016
    took, runs = within(lambda: held_for(slow, step, calls, None), 0.004 / 0.25, tolerance=0.1)
    assert runs == 1 and took >= 0.016 - 1e-4
    # 4 ms held 10 ms: room for the 2 ms warm run, not for all it saves (it would be held 5 ms): held until it
    # ends, 6 ms in
    took, runs = within(lambda: held_for(Pace(0.4, 1, HostSpeed(board)), step, calls, "step"), 0.006,
                        tolerance=0.1)
    assert runs == 2 and 0.006 - 1e-4 <= took < 0.010
    fast = Pace(0.8, 1, HostSpeed(board))  # 4 ms held 5 ms: no room for another run
    assert held_for(fast, step, calls, "step")[1] == 1


def test_a_step_is_run_again_where_its_hold_has_room_for_its_warm_run(tmp_path):
    """A hold with room for a step's warm run, not for a whole cold run, runs it again: the two runs end before
    the cold run's device time, so a host that drifts across the threshold moves the step by no jump. The
    warm run's time is learned per step (half the cold run before its first); a warm run longer than that
    ends past the cold run's device time by its own excess, and is not reported late."""
    board = Board(Board.create(tmp_path / "b"))
    post_many(board, 1.3)
    pace = Pace(0.45, 1, HostSpeed(board))  # 4 ms held 4 / 1.3 / 0.45 = 6.8 ms: room for 2.8 ms, not 4
    cold_device_s = 0.004 / 1.3 / 0.45
    step, calls = spin_steps(0.004, 0.002)
    took, runs = within(lambda: held_for(pace, step, calls, "step"), 0.006, tolerance=0.1)
    assert runs == 2 and 0.006 - 1e-4 <= took < cold_device_s
    heavy, heavy_calls = spin_steps(0.004, 0.0036)  # a warm run of 3.6 ms, expected to take 2 at first
    t0 = time.perf_counter()
    out, late, _ = pace.run(heavy, again="heavy step")
    took = time.perf_counter() - t0
    # 7.6 ms in, past 6.8, by the warm run's own excess: not late (what is left is the timer's jitter)
    assert out == 1 and len(heavy_calls) == 2 and took >= 0.0076 - 1e-4 and held(late, 0.0)
    took, runs = within(lambda: held_for(pace, heavy, heavy_calls, "heavy step"), cold_device_s, tolerance=0.1)
    assert runs == 1  # 3.6 ms learned: no room for it
    assert held_for(pace, step, calls, "step")[1] == 2  # learned per step
