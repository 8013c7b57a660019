"""Rich progress for long work: one bar per stage, the current cell, done/total and ETA."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class StudyProgress:
    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.bar = Progress(
            TextColumn("[bold]{task.fields[stage]:<9}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[item]}"),
            console=self.console, transient=False,
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> "StudyProgress":
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def start(self, stage: str, total: int, completed: int = 0) -> None:
        self.tasks[stage] = self.bar.add_task(stage, total=total, completed=completed, stage=stage, item="")

    def current(self, stage: str, item: str) -> None:
        if stage in self.tasks:
            self.bar.update(self.tasks[stage], item=item)

    def advance(self, stage: str) -> None:
        if stage in self.tasks:
            self.bar.advance(self.tasks[stage])

    def log(self, message: str) -> None:
        self.bar.console.print(message)
