"""Latency on a cluster: one actor per testbed, one cell at a time on each, the driver writes the store.

Each testbed of `executor.testbeds` gets an actor placed by its Ray resources on the host next
to its tiers (a device pool behind `edgewise serve`, or a Linux host emulating its own). The
driver hands every actor one cell, then the next as soon as it returns, so no two measurements
share a testbed; an actor measures a cell with the same request loop as a local study
(`measure.latency.measure_subject`) and returns its samples and events, which the driver stores.
A cell measured in part (driver killed) is resumed where it stopped: the actor is told which
samples the store holds. An actor lost with its host fails its cell and leaves the other testbeds
to carry on.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from edgewise.config import TestbedConfig
from edgewise.data.preprocess import build_preprocessor
from edgewise.deploy import Deployment
from edgewise.errors import EdgewiseError, TestbedError
from edgewise.executors.packs import install, pack_artifact
from edgewise.executors.ray_common import failure_reason, worker_cache_dir
from edgewise.measure.latency import Block, CellJob, Protocol, measure_subject, output_check
from edgewise.runtimes.runner import ArtifactRunner
from edgewise.testbeds import make_testbed
from edgewise.tiers.client import DoesNotFit, TierDown
from edgewise.tiers.spec import direct_links, route_for
from edgewise.vocabulary import BUILT, DOES_NOT_FIT, FAILED, FAILED_MARK, MEASURED, UNMEASURABLE


def fan_out(executor, study, store, built) -> None:
    ray, config = executor.ray, study.config
    m = config.measure
    protocol = Protocol.of(m)
    expected = protocol.samples
    cells = {c["cell"]: c for c in store.cells()}
    for b in built:  # a driver killed between a cell's last sample and its status: the samples say it is done
        if cells[b.cell.name]["status"] == BUILT and store.sample_count(b.cell.name) >= expected:
            store.set_cell(b.cell.name, MEASURED)
    todo = deque(b for b in built if cells[b.cell.name]["status"] not in UNMEASURABLE
                 and store.sample_count(b.cell.name) < expected)
    study._start_stage("latency", len(built) * expected, completed=sum(store.sample_count(b.cell.name) for b in built))
    if not todo:
        return
    tiers, links = config.testbed.tier_specs(), config.testbed.link_specs()
    direct = direct_links(config.testbed.links)
    cache_root = Path(study.options.cache_dir).resolve()
    shared = executor.config.shared_cache
    worker = ray.remote(TestbedWorker)
    actors: dict[str, Any] = {}
    for tb in executor.config.testbeds:
        testbed = config.testbed.model_copy(update={"kind": tb.kind or config.testbed.kind,
                                                    "endpoints": tb.endpoints or config.testbed.endpoints,
                                                    "token": tb.token or config.testbed.token})
        # One CPU: the client's core, so no build task lands beside a measurement on that host.
        actors[tb.name] = worker.options(num_cpus=1, resources=tb.resources or None, max_restarts=0).remote(
            tb.name, testbed.model_dump(mode="json"), tiers, links, m.timeout_s, worker_cache_dir())
    try:
        _start(ray, actors, store, config.testbed, study.quick_verification)
        payloads = {s: ray.put(study.subject(s).latency_inputs(m.inputs)) for s in dict.fromkeys(b.cell.subject for b in todo)}

        def job(b) -> dict[str, Any]:
            art, placement = b.artifact, b.cell.placement
            return {"cell": b.cell.name, "key": art.key, "tiers": list(placement.tiers),
                    "split": art.is_split,
                    "parts": [str(p) for p in art.parts] if shared else [str(p.resolve().relative_to(cache_root)) for p in art.parts],
                    "pack": None if shared else pack_artifact(cache_root, art.key),
                    "route": route_for(placement, direct), "spec": study.subject(b.cell.subject).preprocessing(),
                    "cold": m.cold_start, "protocol": protocol, "seed": config.seed,
                    "done": {p: sorted(store.done_inputs(b.cell.name, p)) for p in range(m.passes)}}

        idle, inflight = list(actors), {}
        executor.log(f"measuring {len(todo)} cells on {len(actors)} testbeds: {', '.join(actors)}")
        while todo or inflight:
            while idle and todo:
                name, b = idle.pop(0), todo.popleft()
                study._progress("latency", f"{b.cell.name} on {name}")
                inflight[actors[name].measure.remote(job(b), payloads[b.cell.subject])] = (name, b)
            if not inflight:
                break
            ready, _ = ray.wait(list(inflight), num_returns=1)
            name, b = inflight.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except Exception as exc:  # noqa: BLE001 - a lost host fails its cell; the other testbeds carry on
                reason = failure_reason(exc)
                store.event("testbed-lost", f"testbed {name}: {reason}", b.cell.name)
                store.set_cell(b.cell.name, FAILED, f"testbed {name} lost while measuring: {reason}")
                executor.log(f"{FAILED_MARK} testbed {name} lost: {reason}")
                continue
            _record(store, study, name, b.cell.name, result)
            idle.append(name)
        for b in todo:  # every testbed was lost
            store.set_cell(b.cell.name, FAILED, "no testbed of the cluster is left to measure it")
        if todo:
            raise TestbedError("every testbed of the cluster was lost", "see the events; start the hosts and run again")
    finally:
        for actor in actors.values():
            try:
                ray.get(actor.stop.remote(), timeout=30)
            except Exception:  # noqa: BLE001 - an actor lost with its host has nothing left to stop
                pass
            ray.kill(actor)


def _start(ray, actors: dict[str, Any], store, testbed_config, quick: bool) -> None:
    """Start every testbed; verify each once per study (a resume keeps the figures)."""
    verify = testbed_config.verify and store.emulation() is None
    starts = {name: a.start.remote(verify, quick) for name, a in actors.items()}
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


def _record(store, study, testbed: str, cell: str, result: dict[str, Any]) -> None:
    for p, i, warm, total, breakdown, pacing, held in result["samples"]:
        store.add_sample(cell, p, i, warm, total, breakdown, pacing, held)
        study._advance("latency")
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
        if job["pack"]:
            install(self.worker_cache, job["pack"])
            parts = [self.worker_cache / p for p in job["parts"]]
        else:
            parts = [Path(p) for p in job["parts"]]
        record = _Recorder(job["cell"], job["done"])
        spec, key = job["spec"], job["key"]
        deployment = Deployment(self.testbed, self.client, cold_start=job["cold"])

        def recover(tier: str) -> None:
            deployment.recover(tier)
            record.event("tier-restarted", f"tier {tier} restarted on testbed {self.name}")

        try:
            deployment.deploy(key, job["tiers"], parts, job["split"], spec)
            cell = CellJob(job["cell"], job["route"], key,
                           output_check(ArtifactRunner(tuple(parts)), build_preprocessor(spec)))
            measure_subject([Block(None, [cell])], payloads, job["protocol"], record,
                            lambda j, payload: self.client.infer(j.route, j.artifact_id, payload),
                            recover, job["seed"])
        except DoesNotFit as exc:
            record.event("does-not-fit", str(exc))
            record.set_cell(job["cell"], DOES_NOT_FIT, f"does not fit on {exc.tier}")
        except (EdgewiseError, TierDown) as exc:  # a tier that stays down fails this cell, not the study
            record.set_cell(job["cell"], FAILED, f"testbed {self.name}: {exc}")
        finally:
            deployment.unload_all()
        return record.result()

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.testbed.stop()
