"""A cluster's testbed worker measuring one cell, without Ray around it: its local testbed's tier
servers are real processes, one is SIGKILLed mid-cell, and the worker's deployment brings it back."""

from __future__ import annotations

import os
import signal

from edgewise.config import TestbedConfig
from edgewise.executors.ray_measure import TestbedWorker
from edgewise.measure.cells import CellRequest
from edgewise.measure.latency import Protocol
from edgewise.tiers.spec import LinkSpec, Placement, TierSpec, route_for

TIERS = {"mobile": TierSpec("mobile", 1.0, 1024, speed=0.5), "edge": TierSpec("edge", 1.0, 2048, speed=0.5)}
LINKS = [LinkSpec("client", "mobile", 100.0), LinkSpec("mobile", "edge", 100.0)]
PROTOCOL = Protocol(inputs=3, passes=2, warmup_passes=1, retries=2)


class KillsEdgeOnce(list):
    """The cell's payloads; handing out the `at`-th one first SIGKILLs the edge tier's server."""

    def __init__(self, payloads, worker: TestbedWorker, at: int):
        super().__init__(payloads)
        self.worker, self.at, self.handed = worker, at, 0

    def __getitem__(self, index):
        self.handed += 1
        if self.handed == self.at:
            proc = self.worker.testbed.procs["edge"]
            os.kill(proc.pid, signal.SIGKILL)
            proc.exit_code(wait_s=5.0)
        return super().__getitem__(index)


def test_a_worker_recovers_a_killed_tier_mid_cell_and_unloads_when_done(tiny_cnn, cnn_split, tmp_path):
    head, tail, _ = cnn_split
    worker = TestbedWorker("host-a", TestbedConfig(kind="local").model_dump(mode="json"), TIERS, LINKS, 30.0,
                           str(tmp_path))
    worker.start(verify=False)
    try:
        request = CellRequest("tiny-cnn:partition@mobile-edge", "tiny-cnn", "", "split", "split", ("mobile", "edge"),
                              (str(head), str(tail)), True, tiny_cnn.preprocessing(),
                              route_for(Placement.parse("mobile-edge")))
        job = {"request": request, "pack": None, "cold": False, "protocol": PROTOCOL, "seed": 0, "done": {}}
        result = worker.measure(job, KillsEdgeOnce(tiny_cnn.latency_inputs(PROTOCOL.inputs), worker, at=4))
        assert result["status"] is None, result["error"]
        assert sorted((p, i) for p, i, *_ in result["samples"]) == [(p, i) for p in range(2) for i in range(3)]
        kinds = [kind for kind, _ in result["events"]]
        # A restarted tier's first requests may find the host too slow for their speed (headroom-wait events).
        assert [k for k in kinds if k.startswith("tier-")] == ["tier-down", "tier-restarted"], result["events"]
        assert not any(kind == "output-mismatch" for kind in kinds)
        assert worker.client.ping("mobile")["artifacts"] == worker.client.ping("edge")["artifacts"] == {}
    finally:
        worker.stop()
