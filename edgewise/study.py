"""Orchestration of a study: plan -> build -> accuracy -> testbed -> latency -> store -> results.

The only module that knows every stage. Each stage reads what the stage before wrote (mostly
through the store), so a run killed anywhere resumes by running the same command again.
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
from edgewise.artifacts import ArtifactCache, content_key
from edgewise.config import StudyConfig, apply_profile, identity_dump
from edgewise.data.preprocess import build_preprocessor
from edgewise.deploy import Deployment
from edgewise.errors import ConfigError, EdgewiseError, TestbedError, build_failure
from edgewise.executors.base import Built as _Built
from edgewise.measure.accuracy import evaluate
from edgewise.measure.conditions import (
    build_cells,
    enter_condition,
    for_every_condition,
    jobs_by_condition,
    links_for_cell,
    links_of,
)
from edgewise.measure.latency import Block, CellJob, Headroom, Protocol, measure_subject, tier_down_reason
from edgewise.measure.latency import output_check as _output_check
from edgewise.operators.base import BuildContext
from edgewise.plan import Cell, plan_cells
from edgewise.results import write_results
from edgewise.runtimes.choice import served_key
from edgewise.runtimes.forms import build_cell
from edgewise.runtimes.runner import ArtifactRunner
from edgewise.store import Store
from edgewise.subjects.base import Subject, SubjectContext
from edgewise.subjects.user import make_subject
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
from edgewise.tiers.client import DoesNotFit, TierLost
from edgewise.tiers.spec import direct_links, route_for
from edgewise.vocabulary import BUILT, FAILED, FAILED_MARK, PLANNED, QUICK, UNMEASURABLE, normalise_profile

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
    progress: Any = None  # a StudyProgress (cli) or None
    executor: str | None = None  # --executor: local, ray or ray=ADDRESS over the study file's section
    lanes: int | None = None  # --lanes: local builds side by side; default one per core


@dataclass
class Study:
    config: StudyConfig
    options: RunOptions
    subjects: dict[str, Subject] = field(default_factory=dict)
    measured: dict[str, Any] | None = None  # remote testbeds: the real hosts' figures (EmulationReport dict)
    headroom: Headroom = field(default_factory=Headroom)  # samples the host was too slow for: one budget per study
    _verified_at: float | None = None  # when this run verified its testbed (monotonic)

    @classmethod
    def open(cls, config: StudyConfig, options: RunOptions) -> "Study":
        return cls(apply_profile(config, options.profile), options)

    # --- stages -------------------------------------------------------------------------
    def subject(self, name: str) -> Subject:
        if name not in self.subjects:
            ctx = SubjectContext(cache_dir=self.options.cache_dir, seed=self.config.seed,
                                 profile=normalise_profile(self.options.profile), device=self.options.device,
                                 log=self.options.log)
            self.subjects[name] = make_subject(self._entry(name), ctx)
        return self.subjects[name]

    def _entry(self, name: str):
        return next(s for s in self.config.subjects if (s if isinstance(s, str) else s.name) == name)

    def plan(self) -> list[Cell]:
        onnx_only = {s.name for s in self.config.subjects if not isinstance(s, str) and s.onnx}
        return plan_cells(self.config, onnx_only)

    def build(self, cells: list[Cell]) -> list[_Built]:
        """Build every cell's artifact (cached by content hash); a failing build fails its cell only."""
        cache = ArtifactCache(self.options.cache_dir / "artifacts")
        tiers, links = self._build_network()
        built = []
        for cell in cells:
            self._progress("build", cell.name)
            subject = self.subject(cell.subject)

            def make_ctx(workdir, _cell=cell, _subject=subject):
                return self.build_context(_cell, _subject, workdir, tiers, links)

            t0 = time.time()
            try:
                art = build_cell(cell.chain, cell.runtime, subject, cache, make_ctx, self.config.operators,
                                 self.config.runtimes, self.options.log)
                built.append(_Built(cell, art))
                self.options.log(f"built {cell.name} ({time.time() - t0:.1f} s)")
            except (ConfigError, TestbedError):
                raise  # the study file or the testbed: nothing else can be measured right either
            except Exception as exc:  # noqa: BLE001 - an operator failing on one subject must not end the study
                built.append(_Built(cell, None, build_failure(exc)))
                self.options.log(f"{FAILED_MARK} build of {cell.name} failed: {built[-1].error}")
            self._advance("build")
        return built

    def build_context(self, cell: Cell, subject: Subject, workdir, tiers=None, links=None) -> BuildContext:
        """What the operators of `cell` build with (and key their artifacts by), wherever they run."""
        if tiers is None or links is None:
            tiers, links = self._build_network()
        return BuildContext(subject=subject, workdir=workdir, seed=self.config.seed,
                            profile=normalise_profile(self.options.profile), device=self.options.device,
                            placement=cell.placement, tiers=tiers, links=links_for_cell(links, cell),
                            log=self.options.log)

    def executor(self):
        """Who builds and measures: this process, or a Ray cluster (the study file's `executor:`)."""
        from edgewise.executors.choice import make_executor, parse_choice  # lazy: keeps `edgewise --help` light

        config = self.config.executor
        if self.options.executor:
            config = parse_choice(self.options.executor, config)
        return make_executor(config, self.options.log)

    def run(self) -> Path:
        """The whole flow into options.out; returns the results.json path."""
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
            with self.executor() as executor:  # local: teachers and steps in lanes, then Study.build
                if executor.kind == "local":
                    self._verify_before_builds(store, testbed, cells)
                built = for_every_condition(executor.build(self, build_cells(cells, links_of(self.config))), cells)
                self._record_artifacts(store, built)
                self._start_stage("accuracy", len(built))
                self.measure_accuracy(store, built)
                executor.measure_latency(self, store, [b for b in built if b.artifact is not None], testbed)

            path = write_results(store, out / "results.json", self.config, self.options.profile)
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
        self.options.log(nominal.describe())

    def _verify_before_builds(self, store: Store, testbed: Testbed, cells: list[Cell]) -> None:
        """A testbed that cannot emulate the study stops it now, in its first minute, not after the builds."""
        if not (self.config.testbed.verify and testbed.emulates_speed) or self._stored_verification(store):
            return
        tiers, links = self._testbed_scope(cells)
        self.options.log(f"starting the {self.config.testbed.kind} testbed to verify it before the builds")
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

    def _record_artifacts(self, store: Store, built: list[_Built]) -> None:
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

    def measure_accuracy(self, store: Store, built: list[_Built]) -> None:
        """Accuracy once per artifact and runtime on the evaluation split, through the runtime that serves
        it on the tiers (a bf16 or int8 runtime changes predictions). An artifact verified at build to
        compute its source's function (a partition's head then tail) takes its source's figures instead
        of being evaluated again. A runtime that cannot run an artifact fails that cell only."""
        cap = self.config.measure.evaluation_samples
        for b in sorted(built, key=lambda b: b.artifact is not None and "reproduces" in b.artifact.meta):
            self._progress("accuracy", b.cell.name)
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
                        self.options.log(f"{FAILED_MARK} accuracy of {b.cell.name} failed: {build_failure(exc)}")
                        self._advance("accuracy")
                        continue
                    how = ""
                store.add_accuracy(served, metrics, correct)
                figures = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
                self.options.log(f"accuracy {b.cell.name}: {figures}{how}")
            self._advance("accuracy")

    def measure_latency(self, store: Store, built: list[_Built], testbed: Testbed | None = None) -> None:
        m = self.config.measure
        protocol = Protocol.of(m)
        expected = protocol.samples
        status = {c["cell"]: c["status"] for c in store.cells()}
        todo = [b for b in built if status.get(b.cell.name) not in UNMEASURABLE
                and store.sample_count(b.cell.name) < expected]
        self._start_stage("latency", len(built) * expected, completed=sum(store.sample_count(b.cell.name) for b in built))
        if not todo:
            return
        tiers, links = self._testbed_scope([b.cell for b in todo])
        direct = self._direct_links()
        with ExitStack() as stack:
            testbed = testbed or make_testbed(self.config.testbed)
            stack.callback(testbed.stop)
            self.options.log(f"starting the {self.config.testbed.kind} testbed")
            testbed.start(tiers, links)
            self._verify(store, testbed)
            client = testbed.client(timeout_s=m.timeout_s)
            stack.callback(client.close)
            stack.enter_context(testbed.client_side())
            for subject_name in dict.fromkeys(b.cell.subject for b in todo):
                group = [b for b in todo if b.cell.subject == subject_name]
                self._measure_group(store, testbed, client, subject_name, group, protocol, direct)

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
        self.options.log("measuring the real hosts (RTT, jitter, bandwidth of each link used; speed of each tier)")
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

    def _build_network(self) -> tuple[dict, list]:
        """Tiers and links the builds are made for: declared, or on real hosts as measured."""
        tiers, links = self.config.testbed.tier_specs(), self.config.testbed.link_specs()
        if self.measured is None:
            return tiers, links

        return measured_tier_specs(self.measured, tiers), measured_link_specs(self.measured) or links

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
            self.options.log("verifying the testbed again (the last verification failed, or was before the builds)")
        quick = self.quick_verification
        self.options.log("verifying the emulation (bandwidth, RTT, per-request speed, CPU share, memory cap"
                         + (", quick)" if quick else ")"))
        report = testbed.verify(quick=quick)
        store.set_emulation(report.to_dict())
        self._verified_at = time.monotonic()
        failures = report.failures(self.config.testbed.tolerance)
        if failures:
            raise TestbedError("the testbed does not emulate what the study asks: " + "; ".join(failures),
                               "fix the host (kernel modules, cgroups, load) or raise testbed.tolerance")

    def _measure_group(self, store, testbed, client, subject_name, group, protocol, direct) -> None:
        subject = self.subject(subject_name)
        spec = subject.preprocessing()
        store.event("preprocessing", json.dumps({"subject": subject_name, "spec": spec}))  # what `edgewise export` ships
        deployment = Deployment(testbed, client, cold_start=self.config.measure.cold_start)
        jobs, checks = [], {}
        for b in group:
            art, placement = b.artifact, b.cell.placement
            runtime = b.cell.runtime_choice
            served = served_key(art.key, b.cell.runtime)
            try:
                deployment.deploy(served, placement.tiers, art.parts, art.is_split, spec,
                                  None if runtime.is_default else runtime.wire(self.config.runtimes),
                                  art.meta.get("io"))
            except TierLost as exc:  # a real host that went down
                store.set_cell(b.cell.name, "tier-down", tier_down_reason(exc))
                store.event("tier-down", str(exc), b.cell.name)
                continue
            except DoesNotFit as exc:
                store.set_cell(b.cell.name, "does-not-fit", f"does not fit on {exc.tier}")
                store.event("does-not-fit", str(exc), b.cell.name)
                deployment.restart(exc.tier)
                continue
            except EdgewiseError as exc:  # the tier's runtime cannot load this artifact: this cell fails alone
                store.set_cell(b.cell.name, FAILED, f"load through {runtime}: {build_failure(exc)}")
                store.event("load-failed", str(exc), b.cell.name)
                continue
            if served not in checks:  # one in-process runner per artifact and runtime, whatever the conditions
                checks[served] = _output_check(ArtifactRunner(art.parts, runtime=runtime.make(self.config.runtimes),
                                                              io=art.meta.get("io")), build_preprocessor(spec))
            jobs.append(CellJob(b.cell.name, route_for(placement, direct), served, checks[served]))

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
                enter_condition(condition, self.config, store, testbed, client, self.options.log)
                current[0] = condition

        payloads = subject.latency_inputs(self.config.measure.inputs)
        blocks = [Block(condition, condition_jobs) for condition, condition_jobs in jobs_by_condition(group, jobs)]
        measure_subject(blocks, payloads, protocol, store, infer, recover, self.config.seed,
                        on_sample=lambda name: self._advance("latency"), enter=enter, headroom=self.headroom)
        for job in jobs:
            if not job.failed:
                store.set_cell(job.name, "measured")
        deployment.unload_all()

    # --- reports and progress -----------------------------------------------------------
    def _write_reports(self, out: Path) -> None:
        from edgewise.report import write_report  # lazy: pulls scipy

        write_report(out / "results.json", out)

    def _start_stage(self, stage: str, total: int, completed: int = 0) -> None:
        if self.options.progress is not None:
            self.options.progress.start(stage, total, completed)

    def _progress(self, stage: str, item: str) -> None:
        if self.options.progress is not None:
            self.options.progress.current(stage, item)

    def _advance(self, stage: str) -> None:
        if self.options.progress is not None:
            self.options.progress.advance(stage)

