"""Network conditions take turns a few inputs at a time, so that each condition's samples are spread over
the whole run (a real tier server, a real store and the request loop)."""

from __future__ import annotations

import itertools

import pytest

from edgewise.measure.latency import REWARM_MAX, Block, CellJob, Protocol, measure_subject
from edgewise.output.store import Store
from edgewise.planning.conditions import Condition
from edgewise.tiers.client import TierClient
from edgewise.tiers.reference import workload_input, workload_path
from edgewise.tiers.server import ServerConfig, TierServer
from edgewise.tiers.spec import CLIENT, Route

CONDITIONS = [Condition.parse(name) for name in ("edge-cloud=1mbit", "edge-cloud=5mbit", "edge-cloud=20mbit")]


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    # At full speed no step is held, so no sample runs late and is measured again out of its turn (a busy
    # host made one do so in a suite run): the turns are what this file checks.
    server = TierServer(ServerConfig(tier="edge", speed=1.0)).start()
    client = TierClient({"edge": server.address})
    client.load("edge", "work", workload_path("0.3ms"), "full", None)
    yield client
    client.close()
    server.stop()


def _job(condition: Condition, cell: str) -> CellJob:
    return CellJob(f"{cell}@edge|{condition.name}", Route((("edge", "full"),), ((CLIENT, "edge"),)), "work")


def test_conditions_take_turns_a_few_inputs_at_a_time_each_after_untimed_requests(client, tmp_path):
    store = Store(tmp_path / "study.sqlite")
    blocks = [Block(c, [_job(c, "a"), _job(c, "b")]) for c in CONDITIONS]
    protocol = Protocol(inputs=10, passes=2, warmup_passes=1, warmup_inputs=3, turn_inputs=4)
    log: list[tuple[str, str]] = []  # (condition in force, cell) per request
    current: list[str] = []

    def infer(job, payload):
        log.append((current[-1], job.name))
        return client.infer(job.route, job.artifact_id, workload_input())

    measure_subject(blocks, [b""], protocol, store, infer, lambda tier: None, seed=0,
                    enter=lambda condition: current.append(condition.name))
    assert all(cell.endswith(f"|{condition}") for condition, cell in log)  # each request under its own condition
    # Every cell holds all of its samples, warm-up included.
    for block in blocks:
        for job in block.jobs:
            assert sorted((p, i) for p, i, *_ in store.samples(job.name)) == (
                [(0, i) for i in range(3)] + [(1, i) for i in range(10)])
    # Pass 0 (3 inputs) is one turn; pass 1 (10 inputs) three turns of 4, 4 and 2: 4 turns x 3 conditions.
    turns = [name for k, name in enumerate(current) if k == 0 or current[k - 1] != name]
    assert len(turns) == 4 * len(CONDITIONS)
    firsts = [turns[t * len(CONDITIONS)] for t in range(4)]
    assert firsts == [CONDITIONS[t % len(CONDITIONS)].name for t in range(4)]  # the first condition rotates
    # Within a turn a cell's requests follow each other: in the warm-up pass its 3 inputs; in the measured
    # pass untimed requests (for REWARM_S, at least one, at most REWARM_MAX), then its 4, 4 and 2 inputs.
    runs = [len(list(group)) for _, group in itertools.groupby(log)]
    per_cell = 2 * len(CONDITIONS)
    timed = [3] * per_cell + [4] * per_cell + [4] * per_cell + [2] * per_cell
    assert len(runs) == len(timed)
    untimed = [run - inputs for run, inputs in zip(runs, timed)]
    assert untimed[:per_cell] == [0] * per_cell
    assert all(1 <= extra <= REWARM_MAX for extra in untimed[per_cell:]), untimed


def test_one_condition_measures_a_pass_in_one_turn():
    protocol = Protocol(inputs=9, passes=2, warmup_passes=1, warmup_inputs=1, turn_inputs=4)
    assert protocol.turns_in(0, 1) == [range(1)] and protocol.turns_in(1, 1) == [range(9)]
    assert protocol.turns_in(1, 3) == [range(4), range(4, 8), range(8, 9)]


def test_each_sample_knows_its_turn_of_the_run():
    protocol = Protocol(inputs=9, passes=3, warmup_passes=1, warmup_inputs=1, turn_inputs=4)
    turns = [protocol.turn_index(p, i, 3) for p in range(3) for i in range(protocol.inputs_in(p))]
    assert turns == [0] + [1] * 4 + [2] * 4 + [3] + [4] * 4 + [5] * 4 + [6]
