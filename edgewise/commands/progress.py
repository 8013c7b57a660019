"""Rich progress for long work: one bar per stage, the current cell, done/total and ETA.

While requests are being timed (the latency stage) the bar is drawn between requests, from the
measuring thread, at most REFRESH_S apart: drawing from a thread of its own would take the GIL for
the milliseconds a terminal render lasts and delay a reply that arrives meanwhile. Other stages
(training, building, evaluating) are redrawn by a background thread, so the elapsed time moves
during a long step.
"""

from __future__ import annotations

import threading
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from edgewise.vocabulary import FAILED_MARK

REFRESH_S = 0.25
TIMED_STAGES = frozenset({"latency"})  # stages whose items are timed requests


class StudyProgress:
    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.bar = Progress(
            TextColumn("[bold]{task.fields[stage]:<9}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[item]}", markup=False),  # a cell's name as written: prune[ratio=0.3]
            console=self.console, transient=False, auto_refresh=False,
        )
        self.tasks: dict[str, int] = {}
        self.timing = False  # a timed stage is under way: draw only between its requests
        self._drawn = 0.0
        self._stop = threading.Event()
        self._painter = threading.Thread(target=self._paint, name="edgewise-progress", daemon=True)

    def __enter__(self) -> "StudyProgress":
        self.bar.start()
        self._painter.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._painter.join()
        self.bar.refresh()
        self.bar.stop()

    def _paint(self) -> None:
        while not self._stop.wait(REFRESH_S):
            if not self.timing:
                self.bar.refresh()

    def start(self, stage: str, total: int, completed: int = 0) -> None:
        self.tasks[stage] = self.bar.add_task(stage, total=total, completed=completed, stage=stage, item="")
        self.timing = stage in TIMED_STAGES
        self.bar.refresh()

    def current(self, stage: str, item: str) -> None:
        if stage in self.tasks:
            self.bar.update(self.tasks[stage], item=item)

    def advance(self, stage: str) -> None:
        if stage in self.tasks:
            self.bar.advance(self.tasks[stage])
            if self.timing:
                self._between_requests()

    def _between_requests(self) -> None:
        now = time.monotonic()
        if now - self._drawn >= REFRESH_S:
            self._drawn = now
            self.bar.refresh()

    def log(self, message: str) -> None:
        """A line as written (no markup: a chain's settings in brackets stay); a failure's line in red."""
        self.bar.console.print(Text(message, style="red" if message.startswith(FAILED_MARK) else ""))
