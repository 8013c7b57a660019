"""The Executor seam: who builds a study's artifacts and who measures its cells' latency."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgewise.artifacts import Artifact
    from edgewise.plan import Cell
    from edgewise.store import Store
    from edgewise.study import Study


@dataclass
class Built:
    """What a build gave one cell: its artifact, or the reason it failed."""

    cell: Cell
    artifact: Artifact | None
    error: str | None = None


class Executor(ABC):
    kind = ""

    @abstractmethod
    def build(self, study: "Study", cells: list["Cell"]) -> list[Built]:
        """The cells' artifacts, in the cells' order; a failed build fails its cell only."""

    @abstractmethod
    def measure_latency(self, study: "Study", store: "Store", built: list[Built], testbed: Any = None) -> None:
        """Every missing latency sample of `built` into `store` (the driver writes the store)."""

    def close(self) -> None:
        """Release what the executor holds (a cluster connection)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
