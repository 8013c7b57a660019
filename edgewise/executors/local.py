"""The local executor: this process builds (teachers in local lanes) and drives the testbed."""

from __future__ import annotations

from edgewise.executors.base import Executor


class LocalExecutor(Executor):
    kind = "local"

    def build(self, study, cells):
        study.train_teachers(cells)
        study._start_stage("build", len(cells))
        return study.build(cells)

    def measure_latency(self, study, store, built, testbed=None) -> None:
        study.measure_latency(store, built, testbed)
