"""Work side by side in lane processes: order by prerequisites, failures confined, cores handed on."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgewise.building.lanes import LaneTask, run_in_lanes
from tests.executors import lane_tasks


@pytest.mark.timeout(120)
def test_tasks_run_after_their_prerequisites_and_a_failure_skips_only_what_waits_for_it(tmp_path):
    logged: list[str] = []
    finished: list[str] = []
    tasks = [LaneTask("a", lane_tasks.record, (str(tmp_path), "a")),
             LaneTask("b", lane_tasks.fail, ("b",)),
             LaneTask("c", lane_tasks.record, (str(tmp_path), "c"), after=("a",)),
             LaneTask("d", lane_tasks.record, (str(tmp_path), "d"), after=("b",)),
             LaneTask("e", lane_tasks.record, (str(tmp_path), "e"), after=("d",)),
             LaneTask("alone", lane_tasks.threads)]

    outcomes = run_in_lanes(tasks, logged.append, lanes=2, on_done=lambda name, o: finished.append(name))

    assert sorted(finished) == sorted(t.name for t in tasks)
    assert outcomes["a"].result == "a" and outcomes["c"].result == "c"
    assert "RuntimeError: b cannot be built" == outcomes["b"].error
    assert outcomes["d"].error == "skipped: b failed" and outcomes["e"].error == "skipped: d failed"
    ran = [p.name.split("-", 1)[1] for p in sorted(tmp_path.iterdir(), key=lambda p: int(p.name.split("-")[0]))]
    assert ran == ["a", "c"]  # d and e never ran; c only after a
    assert "a: running a" in logged and "c: running c" in logged  # each lane's lines say whose they are
    assert outcomes["alone"].result >= 1


def test_tasks_waiting_for_an_unknown_task_are_refused():
    with pytest.raises(ValueError, match="not given"):
        run_in_lanes([LaneTask("a", lane_tasks.threads, after=("nowhere",))], print)


def _alive(pid: int) -> bool:
    try:  # a zombie waiting for its reaper is dead
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.timeout(120)
def test_lanes_die_with_a_killed_study(tmp_path):
    script = ("from edgewise.building.lanes import LaneTask, run_in_lanes\n"
              "from tests.executors import lane_tasks\n"
              f"run_in_lanes([LaneTask(n, lane_tasks.sleep_forever, ({str(tmp_path)!r},)) for n in 'ab'], print, lanes=2)\n")
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.time() + 60
        while len(lanes := [int(f.name.split("-")[1]) for f in tmp_path.glob("lane-*")]) < 2 and time.time() < deadline:
            time.sleep(0.2)
        assert len(lanes) == 2 and all(_alive(pid) for pid in lanes), "the lanes never started"
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.time() + 10
    while any(_alive(pid) for pid in lanes) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in lanes), "a lane outlived its study"
