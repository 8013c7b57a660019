"""The driver of a study: plan -> build -> accuracy -> profiles -> testbed -> measure -> store -> results.

The only module that knows every stage. It hands the builds (and on a cluster the measurements) to its
executor as plain values and keeps the bookkeeping itself: the store, the statuses, the progress. Each
stage reads what the stage before wrote (mostly through the store), so a run killed anywhere resumes
by running the same command again. The scenario (single-stream or server) is a strategy of the one
per-cell driver (measure/cells.py), so `run`, `build` and `load` share this path.
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgewise import environment
from edgewise.building.artifacts import content_key
from edgewise.building.workshop import BuildSpec, Built, Network, Workshop
from edgewise.config import StudyConfig, apply_profile, identity_dump
from edgewise.deploying.deploy import Deployment
from edgewise.errors import ConfigError, TestbedError, build_failure
from edgewise.executors.base import Executor
from edgewise.measure.accuracy import evaluate
from edgewise.measure.cells import CellRequest, ClusterSettings, deploy_cells
from edgewise.measure.conditions import build_cells, enter_condition, for_every_condition, jobs_by_condition, links_of
from edgewise.measure.latency import Block, CellJob, Headroom, Protocol, measure_subject
from edgewise.measure.server import Server
from edgewise.output.results import write_load, write_results
from edgewise.output.store import Store
from edgewise.planning.plan import Cell, plan_cells
from edgewise.progress import Progress, Quiet
from edgewise.runtimes.choice import served_key
from edgewise.subjects.base import Subject
from edgewise.testbeds import Testbed, make_testbed, testbed_class
from edgewise.testbeds.emulation import EmulationReport
from edgewise.testbeds.measured import (
    NETWORK_HINT,
    expectation_failures,
    measured_link_specs,
    measured_tier_specs,
    route_links,
    route_tiers,
    topology,
)
from edgewise.testbeds.nominal import HostNominal
from edgewise.tiers.spec import direct_links, route_for
from edgewise.vocabulary import (
    BUILT,
    FAILED,
    FAILED_MARK,
    MEASURED,
    PLANNED,
    QUICK,
    SERVER,
    UNMEASURABLE,
    normalise_profile,
)

DEFAULT_CACHE = Path(".edgewise-cache")
REVERIFY_AFTER_S = 300.0  # a verification older than this, taken before the builds, is taken again to measure


@dataclass
class RunOptions:
    out: Path
    profile: str | None = QUICK
    cache_dir: Path = DEFAULT_CACHE
    fresh: bool = False
    device: str = "cpu"
    log: Callable[[str], None] = print
    progress: Progress | None = None  # drawn by the command line (commands/progress.py); None: lines to `log`
    executor: str | None = None  # --executor: local, ray or ray=ADDRESS over the study file's section
    lanes: int | None = None  # --lanes: local builds side by side; default one per core


@dataclass
class Study:
    """The driver: it plans, hands the builds and (on a cluster) the measurements to its executor with plain
    values, keeps the bookkeeping (the store, the statuses, the progress) and measures on its own testbed."""

    config: StudyConfig
    options: RunOptions
    measured: dict[str, Any] | None = None  # remote testbeds: the real hosts' figures (EmulationReport dict)
    headroom: Headroom = field(default_factory=Headroom)  # samples the host was too slow for: one budget per study
    workshop: Workshop = field(init=False)
    _verified_at: float | None = None  # when this run verified its testbed (monotonic)

    def __post_init__(self) -> None:
        self.workshop = Workshop(self.build_spec(), self.options.log)

    @classmethod
    def open(cls, config: StudyConfig, options: RunOptions) -> "Study":
        return cls(apply_profile(config, options.profile), options)

    @property
    def progress(self) -> Progress:
        return self.options.progress if self.options.progress is not None else Quiet(self.options.log)

    # --- stages -------------------------------------------------------------------------
    def subject(self, name: str) -> Subject:
        return self.workshop.subject(name)

    def plan(self) -> list[Cell]:
        onnx_only = {s.name for s in self.config.subjects if not isinstance(s, str) and s.onnx}
        return plan_cells(self.config, onnx_only)

    def build_spec(self) -> BuildSpec:
        """What every build of this study starts from, wherever it runs (the measured network on real hosts)."""
        return BuildSpec(self.config.model_dump(mode="json"), self.config.source, self.options.profile,
                         str(Path(self.options.cache_dir).resolve()), self.options.device,
                         self._build_network().to_dict() if self.measured is not None else None)

    def executor(self) -> Executor:
        """Who builds, and measures on a cluster's testbeds: this host, or a Ray cluster (`executor:`)."""
        from edgewise.executors.choice import make_executor, parse_choice  # lazy: keeps `edgewise --help` light

        config = self.config.executor
        if self.options.executor:
            config = parse_choice(self.options.executor, config)
        return make_executor(config, self.options.log, self.options.lanes)

    def build(self, executor: Executor, cells: list[Cell]) -> list[Built]:
        """Every cell's artifact (an artifact once, whatever the conditions); a failing build fails its cell."""
        return for_every_condition(executor.build(self.build_spec(), build_cells(cells, links_of(self.config)),
                                                  self.progress), cells)

    def build_only(self) -> list[Built]:
        """The artifacts alone (`edgewise build`): planned and preflighted as a run is, nothing measured."""
        cells = self.plan()
        self.preflight(cells)
        with self.executor() as executor:
            return executor.build(self.build_spec(), build_cells(cells, links_of(self.config)), self.progress)

    @property
    def scenario(self) -> str:
        return self.config.measure.scenario

    def run(self) -> Path:
        """The whole flow into options.out; returns results.json (load.json for the server scenario)."""
        out = self.options.out
        if self.options.fresh and out.exists():
            shutil.rmtree(out)
        cells = self.plan()  # refuse a bad plan before anything is written
        testbed = self.preflight(cells)
        out.mkdir(parents=True, exist_ok=True)
        store = Store(out / "study.sqlite")
        try:
            store.claim(self.config.name, self.fingerprint(), self.config.model_dump(mode="json"))
            store.set_environment(environment.fingerprint(self.config.testbed.kind))
            if self.measured is not None and store.emulation() is None:
                store.set_emulation(self.measured)  # the real hosts as measured before anything was written
            store.add_cells([c.as_dict() for c in cells])
            self._keep_nominal(store, testbed)
            with self.executor() as executor:
                if self.scenario == SERVER and executor.testbeds:
                    raise ConfigError("the server scenario measures on the study's own testbed, not on a cluster's "
                                      "testbeds", "remove executor.testbeds, or measure single-stream")
                if not executor.testbeds:
                    self._verify_before_builds(store, testbed, cells)
                built = self.build(executor, cells)
                self._record_artifacts(store, built)
                self.progress.start("accuracy", len(built))
                self.measure_accuracy(store, built)
                self.profile_artifacts(store, built)
                ready = [b for b in built if b.artifact is not None]
                if executor.testbeds:
                    self._measure_on_cluster(executor, store, ready)
                else:
                    self.measure_here(store, ready, testbed)
            path = write_results(store, out / "results.json", self.config, self.options.profile)
            if self.scenario == SERVER:
                path = write_load(store, out / "load.json", self.config)
        finally:
            store.close()
        self._write_reports(out)
        return path

    def preflight(self, cells: list[Cell]) -> Testbed:
        """Refuse what the user can fix before anything is written: subjects whose model or data is
        missing, corrupt or mismatched, and a testbed this host cannot create (e.g. linux without root).
        Both are needed later anyway; the subjects keep their splits, the testbed starts nothing yet."""
        for name in dict.fromkeys(c.subject for c in cells):
            self.subject(name).splits()
        testbed = make_testbed(self.config.testbed)
        if testbed.real_hosts:
            self._measure_real_hosts(testbed, cells)
            self.workshop.network = self._build_network()  # partition cuts are chosen for the measured links
        return testbed

    def _keep_nominal(self, store: Store, testbed: Testbed) -> None:
        """The nominal host speed the tiers emulate their devices against: the study's own from its first
        run (a resumed study emulates the same devices), else this machine's (testbeds/nominal.py)."""
        stored = store.nominal()
        if stored is not None:
            testbed.nominal = HostNominal.from_dict(stored)
            return
        nominal = testbed.host_nominal()
        store.set_nominal(nominal.to_dict())
        self.progress.log(nominal.describe())

    def _verify_before_builds(self, store: Store, testbed: Testbed, cells: list[Cell]) -> None:
        """A testbed that cannot emulate the study stops it now, in its first minute, not after the builds."""
        if not (self.config.testbed.verify and testbed.emulates_speed) or self._stored_verification(store):
            return
        tiers, links = self._testbed_scope(cells)
        self.progress.log(f"starting the {self.config.testbed.kind} testbed to verify it before the builds")
        testbed.start(tiers, links)
        try:
            self._verify(store, testbed)
        finally:
            testbed.stop()

    def _stored_verification(self, store: Store) -> bool:
        """Whether the store holds a verification that passed and still stands: one from an earlier run of
        this study (a resume keeps its figures), or one of this run taken less than REVERIFY_AFTER_S ago
        (builds that took longer may have found the host in another state: it is verified again)."""
        stored = store.emulation()
        if stored is None or EmulationReport.from_dict(stored).failures(self.config.testbed.tolerance):
            return False
        return self._verified_at is None or time.monotonic() - self._verified_at < REVERIFY_AFTER_S

    def fingerprint(self) -> str:
        return content_key(identity_dump(self.config), self.options.profile)

    def _record_artifacts(self, store: Store, built: list[Built]) -> None:
        stored_cells = {c["cell"]: c for c in store.cells()}  # each cell below only touches its own row
        for b in built:
            if b.artifact is None:
                store.set_cell(b.cell.name, FAILED, f"build failed: {b.error}")
                continue
            a = b.artifact
            store.add_artifact(a.key, a.subject, "+".join(a.chain) or "identity", a.size_bytes, len(a.parts), a.meta)
            stored = stored_cells[b.cell.name]
            if stored["artifact"] not in (None, a.key):
                # The build changed since this cell was measured (new teacher, operator or edgewise): measure again.
                store.rebind_cell(b.cell.name, a.key)
                store.event("artifact-changed", f"artifact {stored['artifact']} -> {a.key}; samples dropped", b.cell.name)
                continue
            status = stored["status"]
            store.set_cell(b.cell.name, BUILT if status in (PLANNED, FAILED) else status, None, a.key)

    def measure_accuracy(self, store: Store, built: list[Built]) -> None:
        """Accuracy once per artifact and runtime on the evaluation split, through the runtime that serves
        it on the tiers (a bf16 or int8 runtime changes predictions). An artifact verified at build to
        compute its source's function (a partition's head then tail) takes its source's figures instead
        of being evaluated again. A runtime that cannot run an artifact fails that cell only."""
        cap = self.config.measure.evaluation_samples
        for b in sorted(built, key=lambda b: b.artifact is not None and "reproduces" in b.artifact.meta):
            self.progress.current("accuracy", b.cell.name)
            served = served_key(b.artifact.key, b.cell.runtime) if b.artifact is not None else None
            if served is not None and store.accuracy(served) is None:
                source = b.artifact.meta.get("reproduces")
                found = store.accuracy(served_key(source, b.cell.runtime)) if source else None
                if found is not None:
                    metrics, correct = found
                    how = f" (as {source}: head then tail reproduce it)"
                else:
                    subject = self.subject(b.cell.subject)
                    evaluation = subject.splits().evaluation
                    if cap is not None:
                        evaluation = evaluation.take(cap)
                    try:
                        metrics, correct, _ = evaluate(b.artifact.parts, evaluation, subject.metrics,
                                                       runtime=b.cell.runtime_choice.make(self.config.runtimes),
                                                       io=b.artifact.meta.get("io"))
                    except Exception as exc:  # noqa: BLE001 - a runtime failing on one artifact fails its cell
                        store.set_cell(b.cell.name, FAILED, f"accuracy through {b.cell.runtime_choice}: "
                                       f"{build_failure(exc)}")
                        self.progress.log(f"{FAILED_MARK} accuracy of {b.cell.name} failed: {build_failure(exc)}")
                        self.progress.advance("accuracy")
                        continue
                    how = ""
                store.add_accuracy(served, metrics, correct)
                figures = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
                self.progress.log(f"accuracy {b.cell.name}: {figures}{how}")
            self.progress.advance("accuracy")

    def profile_artifacts(self, store: Store, built: list[Built]) -> None:
        """Each artifact's operator profile and serving memory on its tiers' threads (edgewise.profiling)."""
        from edgewise.profiling.stage import profile_artifacts  # lazy: pulls onnxruntime

        self.progress.start("profile", len(built))
        profile_artifacts(store, built, self.subject, self.config.testbed.tier_specs(), self.progress.log,
                          lambda: self.progress.advance("profile"))

    def requests(self, built: list[Built]) -> list[CellRequest]:
        """The built cells as the measuring driver takes them (plain values: they travel to a cluster)."""
        direct = self._direct_links()
        return [CellRequest(b.cell.name, b.cell.subject, b.cell.condition, b.artifact.key,
                            served_key(b.artifact.key, b.cell.runtime),
                            b.cell.placement.tiers, tuple(str(p) for p in b.artifact.parts), b.artifact.is_split,
                            self.subject(b.cell.subject).preprocessing(), route_for(b.cell.placement, direct),
                            b.cell.runtime, self.config.runtimes, b.artifact.meta.get("io"))
                for b in built]

    def _todo(self, store: Store, built: list[Built]) -> list[Built]:
        """The cells still to measure (a resumed study measures only what is missing)."""
        status = {c["cell"]: c["status"] for c in store.cells()}
        if self.scenario == SERVER:
            self.progress.start("load", len(built), completed=len(store.load_records()))
            return [b for b in built if status.get(b.cell.name) not in UNMEASURABLE
                    and b.cell.name not in store.load_records()]
        expected = Protocol.of(self.config.measure).samples
        self.progress.start("latency", len(built) * expected,
                            completed=sum(store.sample_count(b.cell.name) for b in built))
        return [b for b in built if status.get(b.cell.name) not in UNMEASURABLE
                and store.sample_count(b.cell.name) < expected]

    def measure_here(self, store: Store, built: list[Built], testbed: Testbed | None = None) -> None:
        """Every missing figure of `built` on the study's own testbed, subject by subject."""
        todo = self._todo(store, built)
        if not todo:
            return
        tiers, links = self._testbed_scope([b.cell for b in todo])
        with ExitStack() as stack:
            testbed = testbed or make_testbed(self.config.testbed)
            stack.callback(testbed.stop)
            self.progress.log(f"starting the {self.config.testbed.kind} testbed")
            testbed.start(tiers, links)
            self._verify(store, testbed)
            client = testbed.client(timeout_s=self.config.measure.timeout_s)
            stack.callback(client.close)
            stack.enter_context(testbed.client_side())
            for subject_name in dict.fromkeys(b.cell.subject for b in todo):
                group = [b for b in todo if b.cell.subject == subject_name]
                self._measure_subject(store, testbed, client, subject_name, group)

    def _measure_subject(self, store: Store, testbed: Testbed, client, subject_name: str, group: list[Built]) -> None:
        """One subject's cells: deployed together (their single-stream requests take turns), measured by the
        study's scenario, unloaded."""
        subject = self.subject(subject_name)
        store.event("preprocessing", json.dumps({"subject": subject_name, "spec": subject.preprocessing()}))
        deployment = Deployment(testbed, client, cold_start=self.config.measure.cold_start)
        requests = self.requests(group)
        jobs = deploy_cells(deployment, requests, store)
        payloads = subject.latency_inputs(self.config.measure.inputs)
        try:
            if self.scenario == SERVER:
                tiers_of = {r.cell: r.tiers for r in requests}
                Server(self.config.sla, self.config.measure.load, self.config.seed).measure(
                    client, jobs, tiers_of, payloads, store, self.progress.log)
                for job in jobs:
                    self.progress.advance("load")
            else:
                self._single_stream(store, testbed, client, deployment, group, jobs, payloads)
        finally:
            deployment.unload_all()
        for job in jobs:
            if not job.failed and store.cell_status(job.name) not in UNMEASURABLE:
                store.set_cell(job.name, MEASURED)

    def _single_stream(self, store: Store, testbed: Testbed, client, deployment: Deployment, group: list[Built],
                       jobs: list[CellJob], payloads: list[bytes]) -> None:
        protocol = Protocol.of(self.config.measure)

        def infer(job: CellJob, payload: bytes):
            return client.infer(job.route, job.artifact_id, payload)

        def recover(tier: str) -> None:
            attempts = max(1, protocol.retries)

            def failed(attempt: int, exc: Exception) -> None:
                store.event("tier-restart-failed", f"tier {tier}, attempt {attempt}/{attempts}: {exc}")

            reloaded = deployment.recover(tier, attempts, failed)
            store.event("tier-restarted", f"tier {tier} restarted; {reloaded} artifact part(s) reloaded")

        current: list = [None]

        def enter(condition) -> None:  # the links change in place; the artifacts stay loaded
            if condition != current[0]:
                enter_condition(condition, self.config, store, testbed, client, self.progress.log)
                current[0] = condition

        blocks = [Block(condition, condition_jobs) for condition, condition_jobs in jobs_by_condition(group, jobs)]
        measure_subject(blocks, payloads, protocol, store, infer, recover, self.config.seed,
                        on_sample=lambda name: self.progress.advance("latency"), enter=enter,
                        headroom=self.headroom)

    def _measure_on_cluster(self, executor: Executor, store: Store, built: list[Built]) -> None:
        """The cells on the cluster's testbeds, one at a time each; the samples come back here to the store."""
        todo = self._todo(store, built)
        if not todo:
            return
        m = self.config.measure
        tiers, links = self._testbed_scope([b.cell for b in todo])
        settings = ClusterSettings(
            testbed=self.config.testbed.model_dump(mode="json"), tiers=tiers, links=links, protocol=Protocol.of(m),
            seed=self.config.seed, cold_start=m.cold_start, timeout_s=m.timeout_s,
            verify=self.config.testbed.verify and store.emulation() is None, quick=self.quick_verification,
            tolerance=self.config.testbed.tolerance, cache_dir=str(Path(self.options.cache_dir).resolve()),
            payloads={s: self.subject(s).latency_inputs(m.inputs) for s in dict.fromkeys(b.cell.subject for b in todo)})
        executor.measure(self.requests(todo), settings, store, self.progress)

    # --- real hosts (kind: remote) ----------------------------------------------------------
    def _measure_real_hosts(self, testbed: Testbed, cells: list[Cell]) -> None:
        """Measure the links and tiers the cells use, before the build (partition cuts use them) and
        before anything is written: a network outside `testbed.expect` refuses the study here. A
        resumed study keeps the figures of its first run, so its artifacts keep their keys."""
        path = self.options.out / "study.sqlite"
        if path.is_file():
            stored = Store(path)
            try:
                self.measured = stored.emulation()
            finally:
                stored.close()
        if self.measured is not None or not self.config.testbed.verify:
            return
        tiers, links = self._testbed_scope(cells)
        self.progress.log("measuring the real hosts (RTT, jitter, bandwidth of each link used; speed of each tier)")
        testbed.start(tiers, links)
        report = testbed.verify()
        failures = expectation_failures(report, self.config.testbed.expect)
        if failures:
            raise TestbedError("the real hosts' network is not what testbed.expect states: " + "; ".join(failures),
                               NETWORK_HINT)
        self.measured = report.to_dict()

    def _testbed_scope(self, cells: list[Cell]) -> tuple[dict, list]:
        """The tiers and links to start: all of the study's, or on real hosts those the cells' routes use."""
        tiers, links = self.config.testbed.tier_specs(), self.config.testbed.link_specs()
        if not testbed_class(self.config.testbed.kind).real_hosts:
            return tiers, links

        pairs = route_links([c.placement for c in cells], self._direct_links())
        return {t: tiers[t] for t in route_tiers(pairs)}, topology(pairs)

    def _build_network(self) -> Network:
        """Tiers and links the builds are made for: declared, or on real hosts as measured."""
        tiers, links = self.config.testbed.tier_specs(), self.config.testbed.link_specs()
        if self.measured is None:
            return Network(tiers, links)
        return Network(measured_tier_specs(self.measured, tiers), measured_link_specs(self.measured) or links)

    def _direct_links(self) -> set[frozenset[str]]:
        """Declared links that skip a tier (mobile-cloud): requests take them instead of relaying."""
        return direct_links(self.config.testbed.links)

    # --- verification ----------------------------------------------------------------------
    @property
    def quick_verification(self) -> bool:
        """The quick profile verifies the testbed with fewer requests and shorter transfers."""
        return normalise_profile(self.options.profile) == QUICK

    def _verify(self, store: Store, testbed) -> None:
        if not self.config.testbed.verify or self._stored_verification(store):
            return
        if store.emulation() is not None:
            self.progress.log("verifying the testbed again (the last verification failed, or was before the builds)")
        quick = self.quick_verification
        self.progress.log("verifying the emulation (bandwidth, RTT, per-request speed, CPU share, memory cap"
                         + (", quick)" if quick else ")"))
        report = testbed.verify(quick=quick)
        store.set_emulation(report.to_dict())
        self._verified_at = time.monotonic()
        for line in report.short_of_headroom():
            self.progress.log(line)
        failures = report.failures(self.config.testbed.tolerance)
        if failures:
            raise TestbedError("the testbed does not emulate what the study asks: " + "; ".join(failures),
                               "fix the host (kernel modules, cgroups, load) or raise testbed.tolerance")

    # --- reports -------------------------------------------------------------------------
    def _write_reports(self, out: Path) -> None:
        from edgewise.report import write_report  # lazy: pulls scipy

        write_report(out / "results.json", out)
        if self.scenario == SERVER:
            from edgewise.report.load import write_load_report

            write_load_report(out / "load.json", out)
