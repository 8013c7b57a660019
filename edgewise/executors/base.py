"""The Executor seam: who builds a study's artifacts and who measures its cells on a cluster's testbeds.

An executor receives plain values (the study's BuildSpec, its cells, the cells' measurement requests)
and the progress to report to; it returns artifacts or errors, samples and events. The study (the
driver) keeps the bookkeeping: the store, the statuses, what is resumed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from edgewise.building.workshop import BuildSpec, Built

if TYPE_CHECKING:
    from edgewise.planning.plan import Cell
    from edgewise.progress import Progress


class Executor(ABC):
    kind = ""

    @abstractmethod
    def build(self, spec: BuildSpec, cells: list["Cell"], progress: "Progress") -> list[Built]:
        """The cells' artifacts, in the cells' order; a failed build fails its cell only."""

    @property
    def testbeds(self) -> list[Any]:
        """The cluster's testbeds the cells are measured on; none: the study measures on its own testbed."""
        return []

    def measure(self, requests: list[Any], settings: Any, sink: Any, progress: "Progress") -> None:
        """Every missing sample of `requests` (measure.cells.CellRequest) on the cluster's testbeds, written to
        `sink` (the study's store) by this driver process."""
        raise NotImplementedError(f"the {self.kind} executor has no testbeds of its own")

    def close(self) -> None:
        """Release what the executor holds (a cluster connection)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Built", "BuildSpec", "Executor"]
