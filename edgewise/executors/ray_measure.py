"""Latency on a cluster: one actor per testbed, one cell at a time on each, the driver writes the store.

Each testbed of `executor.testbeds` gets an actor placed by its Ray resources on the host next
to its tiers (a device pool behind `edgewise serve`, or a Linux host emulating its own). The
driver hands every actor one cell, then the next as soon as it returns, so no two measurements
share a testbed; an actor deploys and measures a cell with the study's own per-cell driver
(`measure.cells.deploy_cells`, `measure.latency.measure_subject`: one failure policy wherever a cell
runs) and returns its samples and events, which the driver stores.
A cell measured in part (driver killed) is resumed where it stopped: the actor is told which
samples the store holds. An actor lost with its host fails its cell and leaves the other testbeds
to carry on.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgewise.config import TestbedConfig
from edgewise.deploying.deploy import Deployment
from edgewise.errors import EdgewiseError, TestbedError
from edgewise.executors.packs import install, pack_artifact
from edgewise.executors.ray_common import failure_reason, worker_cache_dir
from edgewise.measure.cells import CellRequest, ClusterSettings, deploy_cells
from edgewise.measure.latency import Block, measure_subject
from edgewise.progress import Progress
from edgewise.testbeds import make_testbed
from edgewise.tiers.client import TierDown
from edgewise.vocabulary import FAILED, FAILED_MARK, MEASURED


def fan_out(executor, requests: list[CellRequest], settings: ClusterSettings, store, progress: Progress) -> None:
    """Measure `requests` on the executor's testbeds, a cell at a time each; the samples land in `store`."""
    ray = executor.ray
    protocol = settings.protocol
    todo = deque(requests)
    cache_root = Path(settings.cache_dir)
    shared = executor.config.shared_cache
    base = TestbedConfig.model_validate(settings.testbed)
    worker = ray.remote(TestbedWorker)
    actors: dict[str, Any] = {}
    for tb in executor.config.testbeds:
        testbed = base.model_copy(update={"kind": tb.kind or base.kind, "endpoints": tb.endpoints or base.endpoints,
                                          "token": tb.token or base.token})
        # One CPU: the client's core, so no build task lands beside a measurement on that host.
        actors[tb.name] = worker.options(num_cpus=1, resources=tb.resources or None, max_restarts=0).remote(
            tb.name, testbed.model_dump(mode="json"), settings.tiers, settings.links, settings.timeout_s,
            worker_cache_dir())
    try:
        _start(ray, actors, store, base, settings)
        payloads = {s: ray.put(p) for s, p in settings.payloads.items()}

        def job(r: CellRequest) -> dict[str, Any]:
            relative = r if shared else replace(r, parts=tuple(str(Path(p).resolve().relative_to(cache_root))
                                                               for p in r.parts))
            return {"request": relative, "pack": None if shared else pack_artifact(cache_root, r.artifact),
                    "protocol": protocol, "seed": settings.seed, "cold": settings.cold_start,
                    "done": {p: sorted(store.done_inputs(r.cell, p)) for p in range(protocol.passes)}}

        idle, inflight = list(actors), {}
        progress.log(f"measuring {len(todo)} cells on {len(actors)} testbeds: {', '.join(actors)}")
        while todo or inflight:
            while idle and todo:
                name, r = idle.pop(0), todo.popleft()
                progress.current("latency", f"{r.cell} on {name}")
                inflight[actors[name].measure.remote(job(r), payloads[r.subject])] = (name, r)
            if not inflight:
                break
            ready, _ = ray.wait(list(inflight), num_returns=1)
            name, r = inflight.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except Exception as exc:  # noqa: BLE001 - a lost host fails its cell; the other testbeds carry on
                reason = failure_reason(exc)
                store.event("testbed-lost", f"testbed {name}: {reason}", r.cell)
                store.set_cell(r.cell, FAILED, f"testbed {name} lost while measuring: {reason}")
                progress.log(f"{FAILED_MARK} testbed {name} lost: {reason}")
                continue
            _record(store, progress, name, r.cell, result)
            idle.append(name)
        for r in todo:  # every testbed was lost
            store.set_cell(r.cell, FAILED, "no testbed of the cluster is left to measure it")
        if todo:
            raise TestbedError("every testbed of the cluster was lost", "see the events; start the hosts and run again")
    finally:
        for actor in actors.values():
            try:
                ray.get(actor.stop.remote(), timeout=30)
            except Exception:  # noqa: BLE001 - an actor lost with its host has nothing left to stop
                pass
            ray.kill(actor)


def _start(ray, actors: dict[str, Any], store, testbed_config, settings: ClusterSettings) -> None:
    """Start every testbed; verify each once per study (a resume keeps the figures)."""
    verify = settings.verify
    starts = {name: a.start.remote(verify, settings.quick) for name, a in actors.items()}
    reports = {}
    for name, ref in starts.items():
        try:
            reports[name] = ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - say which testbed, in one line
            raise TestbedError(f"testbed {name} of the cluster did not start: {failure_reason(exc)}",
                               "check its entry in executor.testbeds and the servers on its host") from None
    if not verify:
        return
    store.set_emulation({"testbeds": {name: report for name, (report, _) in reports.items()},
                         **next(iter(reports.values()))[0]})
    for name, (_, check) in reports.items():
        store.event("testbed-verified", f"testbed {name}: " + ("; ".join(check) or "within tolerance"))
    bad = [f"{name}: " + "; ".join(check) for name, (report, check) in reports.items() if check]
    if bad:
        raise TestbedError("a testbed does not emulate what the study asks: " + " | ".join(bad),
                           "fix that host (kernel modules, cgroups, load) or raise testbed.tolerance")


def _record(store, progress: Progress, testbed: str, cell: str, result: dict[str, Any]) -> None:
    for p, i, warm, total, breakdown, pacing, held in result["samples"]:
        store.add_sample(cell, p, i, warm, total, breakdown, pacing, held)
        progress.advance("latency")
    for p, i, total, pacing in result["unheld"]:
        store.add_unheld(cell, p, i, total, pacing)
    for kind, message in result["events"]:
        store.event(kind, message, cell)
    if result["status"]:
        store.set_cell(cell, result["status"], result["error"])
    else:
        store.set_cell(cell, MEASURED)
        store.event("measured-on", f"testbed {testbed}", cell)


class _Recorder:
    """The part of the Store the request loop uses, kept in memory and returned to the driver."""

    def __init__(self, cell: str, done: dict[int, list[int]]):
        self.cell, self.done = cell, {int(p): set(v) for p, v in done.items()}
        self.samples: list[tuple] = []
        self.unheld: list[tuple] = []
        self.events: list[tuple[str, str]] = []
        self.status: str | None = None
        self.error: str | None = None

    def done_inputs(self, cell: str, pass_: int) -> set[int]:
        return self.done.get(pass_, set())

    def add_sample(self, cell, pass_, input_, warmup, latency_s, breakdown, pacing=None, held=True) -> None:
        self.done.setdefault(pass_, set()).add(input_)
        self.samples.append((pass_, input_, bool(warmup), latency_s, breakdown, pacing or {}, held))

    def add_unheld(self, cell, pass_, input_, latency_s, pacing) -> None:
        self.unheld.append((pass_, input_, latency_s, pacing))

    def event(self, kind: str, message: str, cell: str | None = None) -> None:
        self.events.append((kind, message))

    def set_cell(self, cell: str, status: str, error: str | None = None, artifact: str | None = None) -> None:
        self.status, self.error = status, error

    def result(self) -> dict[str, Any]:
        return {"samples": self.samples, "unheld": self.unheld, "events": self.events, "status": self.status,
                "error": self.error}


class TestbedWorker:
    """A Ray actor on a testbed's host: starts the testbed there and measures the cells it is given."""

    __test__ = False

    def __init__(self, name: str, testbed: dict[str, Any], tiers, links, timeout_s: float, worker_cache: str):
        self.name, self.tiers, self.links, self.timeout_s = name, tiers, links, timeout_s
        self.config = TestbedConfig.model_validate(testbed)
        self.testbed = make_testbed(self.config)
        self.client = None
        self.worker_cache = Path(worker_cache)

    def start(self, verify: bool, quick: bool = False) -> tuple[dict[str, Any], list[str]] | None:
        self.testbed.start(self.tiers, self.links)
        self.client = self.testbed.client(timeout_s=self.timeout_s)
        if not verify:
            return None
        report = self.testbed.verify(quick=quick)
        return report.to_dict(), report.failures(self.config.tolerance)

    def measure(self, job: dict[str, Any], payloads: list[bytes]) -> dict[str, Any]:
        request: CellRequest = job["request"]
        if job["pack"]:
            install(self.worker_cache, job["pack"])
            request = request.with_parts(self.worker_cache)
        record = _Recorder(request.cell, job["done"])
        deployment = Deployment(self.testbed, self.client, cold_start=job["cold"])

        def recover(tier: str) -> None:
            deployment.recover(tier)
            record.event("tier-restarted", f"tier {tier} restarted on testbed {self.name}")

        try:
            jobs = deploy_cells(deployment, [request], record)
            measure_subject([Block(None, jobs)], payloads, job["protocol"], record,
                            lambda j, payload: self.client.infer(j.route, j.artifact_id, payload),
                            recover, job["seed"])
        except (EdgewiseError, TierDown) as exc:  # a tier that stays down fails this cell, not the study
            record.set_cell(request.cell, FAILED, f"testbed {self.name}: {exc}")
        finally:
            deployment.unload_all()
        return record.result()

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.testbed.stop()
