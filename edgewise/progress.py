"""The progress of long work, as the study reports it: a small protocol the driver hands down (the command
line draws it with rich: commands/progress.py), and the silent one used where nobody watches."""

from __future__ import annotations

from typing import Callable, Protocol


class Progress(Protocol):
    def start(self, stage: str, total: int, completed: int = 0) -> None:
        """A stage begins: `total` items, `completed` of them done already (a resumed study)."""

    def current(self, stage: str, item: str) -> None:
        """What the stage works on now."""

    def advance(self, stage: str) -> None:
        """One more item of the stage is done."""

    def log(self, message: str) -> None:
        """A line for the person watching (a failure's line starts with vocabulary.FAILED_MARK)."""


class Quiet:
    """Progress nobody draws: its lines go to `log`."""

    def __init__(self, log: Callable[[str], None] = print):
        self._log = log

    def start(self, stage: str, total: int, completed: int = 0) -> None:
        pass

    def current(self, stage: str, item: str) -> None:
        pass

    def advance(self, stage: str) -> None:
        pass

    def log(self, message: str) -> None:
        self._log(message)
