"""The study's progress bar: drawn by a thread of its own, except while requests are being timed."""

import io
import threading
import time

from rich.console import Console

from edgewise.commands.progress import REFRESH_S, StudyProgress


def test_timed_stages_are_drawn_only_between_requests(monkeypatch):
    progress = StudyProgress(Console(file=io.StringIO(), force_terminal=True))
    drawn: list[str] = []
    with progress:
        monkeypatch.setattr(progress.bar, "refresh", lambda: drawn.append(threading.current_thread().name))
        progress.start("build", 3)
        time.sleep(3 * REFRESH_S)
        assert "edgewise-progress" in drawn  # a long build step still moves the elapsed time

        progress.start("latency", 1000)
        drawn.clear()
        time.sleep(3 * REFRESH_S)
        assert drawn == []  # no other thread takes the GIL to draw while a request is timed
        t0 = time.monotonic()
        for _ in range(1000):
            progress.advance("latency")  # as the measuring thread does after each sample
        elapsed = time.monotonic() - t0
        assert drawn and set(drawn) == {threading.current_thread().name}  # drawn there ...
        assert len(drawn) <= 1 + elapsed / REFRESH_S  # ... at most once per REFRESH_S
    assert progress.bar.tasks[progress.tasks["latency"]].completed == 1000
