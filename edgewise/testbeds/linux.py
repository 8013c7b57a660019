"""The Linux testbed (root): a network namespace per tier and one for the client, a veth pair per
link shaped by tbf on each side's egress, a cgroup per tier server (CFS quota, memory cap).

One-way delay is applied at the message level by the sender of each frame (shaping.LinkShape), as
this kernel has no netem: a frame on a delayed link waits the delay, then goes out through tbf.
The wait is a sleep, so it costs the tiers none of their CPU share. Per-packet effects of delay
(ACK clocking, slow start) are not emulated.

Every resource carries the run id (namespaces `ew-<run>-<place>`, veths `ew<run><n>a|b`, cgroups
`edgewise-<run>-<tier>`); the owner's pid is recorded under /run/edgewise so a later start can
remove what a crashed run left (cleanup_stale).
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import signal
import threading
import time
from pathlib import Path

from edgewise.errors import TestbedError
from edgewise.testbeds import cgroups, netns
from edgewise.testbeds.base import Testbed
from edgewise.testbeds.emulation import EmulationReport
from edgewise.testbeds.processes import TierProcess
from edgewise.testbeds.verify import (
    SPEED_MODELLED,
    available_memory_mb,
    python_workload,
    verify_cpu,
    verify_links,
    verify_memory,
    verify_speed,
)
from edgewise.tiers.admission import DEFAULT_QUEUE_DEPTH
from edgewise.tiers.client import DoesNotFit, TierClient, TierDown
from edgewise.tiers.shaping import LinkShape
from edgewise.tiers.spec import CLIENT, LinkSpec, TierSpec

STATE_DIR = Path("/run/edgewise")
PORT = 7400


class LinuxTestbed(Testbed):
    kind = "linux"

    @classmethod
    def from_config(cls, config) -> "LinuxTestbed":
        return cls(token=config.token, queue_depth=config.queue_depth)
    modelled = False

    def __init__(self, token: str | None = None, queue_depth: int = DEFAULT_QUEUE_DEPTH):
        if os.geteuid() != 0:
            raise TestbedError("the linux testbed needs root (namespaces, tc, cgroups)",
                               "run as root, or use testbed.kind: local (modelled links)")
        self.queue_depth = queue_depth
        self.run = secrets.token_hex(3)
        self.token = token or secrets.token_hex(16)  # servers listen off loopback: a token is mandatory
        self.state = STATE_DIR / self.run
        self.tiers: dict[str, TierSpec] = {}
        self.links: list[LinkSpec] = []
        self.procs: dict[str, TierProcess] = {}
        self.groups: dict[str, cgroups.TierCgroup] = {}
        self.addresses: dict[tuple[str, str], str] = {}  # (from place, to tier) -> the tier's address on that link
        self.oom_seen: dict[str, int] = {}
        self._started = False

    def ns(self, place: str) -> str:
        return f"{netns.PREFIX}{self.run}-{place}"

    # --- start -------------------------------------------------------------------------------
    def start(self, tiers: dict[str, TierSpec], links: list[LinkSpec]) -> None:
        cleanup_stale()
        self.tiers, self.links = dict(tiers), list(links)
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "owner").write_text(str(os.getpid()))  # written first: everything after is findable
        self._started = True
        atexit.register(self.stop)
        _stop_on_sigterm()
        try:
            for place in (CLIENT, *tiers):
                netns.create_namespace(self.ns(place))
            for i, link in enumerate(links):
                self._wire(i, link)
            for name, spec in tiers.items():
                group = cgroups.TierCgroup(f"{cgroups.PREFIX}{self.run}-{name}")
                group.create(spec.cpus, spec.memory_mb)
                self.groups[name] = group
            # The probe at a tier's weight: at an ordinary one a neighbour interrupts its runs, which pay
            # the caches it took, where a tier's steps are not interrupted; the probe then overstates the
            # host's slowdown and the tiers run fast.
            probe_group = cgroups.weighted_group(f"{cgroups.PREFIX}{self.run}-probe")
            self.board = self.start_probe(self.state, setup=lambda: cgroups.join(probe_group))
            for name in tiers:
                self._spawn(name)
        except BaseException:
            self.stop()
            raise

    def _wire(self, i: int, link: LinkSpec) -> None:
        for end in (link.a, link.b):
            if end != CLIENT and end not in self.tiers:
                raise TestbedError(f"link {link.name} names an unknown tier {end!r}", "declare the tier or drop the link")
        dev_a, dev_b = f"ew{self.run}{i}a", f"ew{self.run}{i}b"
        addr_a, addr_b = netns.connect(self.ns(link.a), self.ns(link.b), dev_a, dev_b, subnet=i)
        netns.shape(self.ns(link.a), dev_a, link.rate_mbit(link.a))
        netns.shape(self.ns(link.b), dev_b, link.rate_mbit(link.b))
        self.addresses[(link.a, link.b)] = addr_b
        self.addresses[(link.b, link.a)] = addr_a

    def _shapes(self, place: str) -> dict[str, LinkShape]:
        """The message-level delay of every link leaving `place` (the rate is tbf's job)."""
        out = {}
        for link in self.links:
            if place in (link.a, link.b):
                other = link.b if place == link.a else link.a
                out[other] = LinkShape(delay_s=link.delay(place) / 1e3)
        return out

    def _spawn(self, tier: str) -> None:
        group = self.groups[tier]
        peers = {b: f"{addr}:{PORT}" for (a, b), addr in self.addresses.items() if a == tier}
        proc = TierProcess(tier, f"0.0.0.0:{PORT}", self.state / f"{tier}.log", token=self.token,
                           threads=self.tiers[tier].intra_op_threads, speed=self.tiers[tier].speed,
                           host_board=self.board,
                           queue_depth=self.queue_depth, peers=peers, shapes=self._shapes(tier),
                           control=str(self.state / f"{tier}.sock"), prefix=("ip", "netns", "exec", self.ns(tier)),
                           setup=group.join)
        proc.start()
        self.procs[tier] = proc
        self.oom_seen[tier] = group.oom_kills()

    # --- use ---------------------------------------------------------------------------------
    def endpoint(self, tier: str) -> str:
        if (CLIENT, tier) in self.addresses:
            return f"{self.addresses[(CLIENT, tier)]}:{PORT}"
        return f"unix:{self.state / f'{tier}.sock'}"  # not linked to the client: control only

    def client(self, timeout_s: float = 120.0) -> TierClient:
        return TierClient({t: self.endpoint(t) for t in self.tiers}, self.token, timeout_s,
                          control={t: f"unix:{self.state / f'{t}.sock'}" for t in self.tiers},
                          shapes=self._shapes(CLIENT), make_socket=netns.socket_factory(self.ns(CLIENT)),
                          diagnose=self.diagnose)

    def tier_client(self, timeout_s: float = 120.0) -> TierClient:
        sockets = {t: f"unix:{self.state / f'{t}.sock'}" for t in self.tiers}
        return TierClient(sockets, self.token, timeout_s, control=sockets, diagnose=self.diagnose)

    def diagnose(self, tier: str, detail: str) -> TierDown | DoesNotFit:
        """Why a tier stopped answering: killed under its memory cap (DoesNotFit) or just down."""
        proc, group = self.procs.get(tier), self.groups.get(tier)
        if proc is None or group is None:
            return TierDown(tier, detail)
        code = proc.exit_code(wait_s=2.0)
        if code == -9 and group.oom_kills() > self.oom_seen.get(tier, 0):
            return DoesNotFit(tier, f"killed by the OOM killer under its {self.tiers[tier].memory_mb} MiB cap")
        return TierDown(tier, detail if code is None else f"{detail}; exit status {code}")

    def reshape(self, links: list[LinkSpec], client: TierClient) -> None:
        """New link figures in place: tbf's rate changed on both veth ends (`tc qdisc change`), the
        message-level delays sent to every tier and the client. Links keep their order (and veths)."""
        index = {link.name: i for i, link in enumerate(self.links)}
        old = {link.name: link for link in self.links}
        for link in links:
            if link.name not in index:
                raise TestbedError(f"cannot reshape link {link.name}: the testbed was started without it",
                                   "conditions may only change links the testbed has")
            i, before = index[link.name], old[link.name]
            for end, dev in ((link.a, f"ew{self.run}{i}a"), (link.b, f"ew{self.run}{i}b")):
                if link.rate_mbit(end) != before.rate_mbit(end):
                    netns.change_rate(self.ns(end), dev, link.rate_mbit(end))
        self.links = sorted(links, key=lambda link: index[link.name])  # a tier restarted later starts with these
        for tier in self.procs:
            client.reshape(tier, self._shapes(tier))
        client.reshape_own(self._shapes(CLIENT))

    def client_side(self):
        return cgroups.weighted_here(f"{cgroups.PREFIX}{self.run}-client")

    def restart(self, tier: str) -> None:
        proc = self.procs.get(tier)
        if proc is not None:
            proc.kill()
        self._spawn(tier)

    def verify(self, quick: bool = False) -> EmulationReport:
        report = EmulationReport(self.kind, self.modelled)
        report.notes.append("bandwidth: application goodput vs the tbf rate (headers count against the rate)")
        report.notes.append("delay: message-level (sender waits the one-way delay); RTT by user-space echo")
        report.notes.append("speed: modelled per request (each compute step held until its CPU time / speed); "
                            "share, memory cap and links: enforced by the kernel")
        if idle := self.idle_states():
            report.notes.append(idle)
        report.labels = {name: {"speed": SPEED_MODELLED, "share": "enforced (cgroup CFS quota)",
                                "memory": "enforced (cgroup memory cap)",
                                "links": "enforced (tbf rate, message-level delay)"} for name in self.tiers}
        with self.client() as client:
            verify_links(client, self.links, report, quick)
        with self.tier_client() as client, cgroups.weighted_here(f"{cgroups.PREFIX}{self.run}-reference"):
            verify_speed(client, self.tiers, report, quick, self.host_nominal())
        limits = {t: g.limits() for t, g in self.groups.items()}
        verify_cpu(self._workload, self.tiers, {t: lim["cpus"] for t, lim in limits.items()}, report, quick)
        verify_memory(self._workload, self.tiers, {t: lim["memory_mb"] for t, lim in limits.items()}, report,
                      available_memory_mb())
        for tier, group in self.groups.items():
            self.oom_seen[tier] = group.oom_kills()  # the hog's kill is not the server's
        return report

    def _workload(self, tier: str | None, args: list[str]) -> tuple[int, str]:
        if tier is None:
            return python_workload(args)
        group = self.groups[tier]

        def join() -> None:
            group.join()
            with open("/proc/self/oom_score_adj", "w") as fh:
                fh.write("1000")  # under the cap the OOM killer takes the probe, never the tier server

        return python_workload(args, preexec=join)

    # --- stop --------------------------------------------------------------------------------
    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for proc in self.procs.values():
            proc.kill()
        self.stop_probe()
        remove_run(self.run)
        atexit.unregister(self.stop)


def remove_run(run: str) -> list[str]:
    """Remove every resource of one run: processes, namespaces (and their veths, qdiscs), cgroups, state."""
    removed = []
    for ns in netns.namespaces(f"{netns.PREFIX}{run}-"):
        netns.delete_namespace(ns)
        removed.append(f"netns {ns}")
    for d in cgroups.stale_dirs():
        if d.name.startswith(f"{cgroups.PREFIX}{run}-"):
            _kill_cgroup(d)
            cgroups.remove_dir(d)
            removed.append(f"cgroup {d}")
    if (STATE_DIR / run).exists():
        shutil.rmtree(STATE_DIR / run, ignore_errors=True)
        removed.append(f"state {STATE_DIR / run}")
    return removed


def _kill_cgroup(d: Path) -> None:
    try:
        pids = (d / "cgroup.procs").read_text().split()
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    for _ in range(50):
        try:
            if not (d / "cgroup.procs").read_text().split():
                return
        except OSError:
            return
        time.sleep(0.02)


def _run_of(name: str, prefix: str) -> str:
    return name[len(prefix):].split("-", 1)[0]


def _owner_alive(run: str) -> bool:
    try:
        pid = int((STATE_DIR / run / "owner").read_text())
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def cleanup_stale() -> list[str]:
    """Remove what crashed runs left behind: every prefixed resource whose owning process is gone."""
    if os.geteuid() != 0:
        return []
    runs = {_run_of(ns, netns.PREFIX) for ns in netns.namespaces()}
    runs |= {_run_of(d.name, cgroups.PREFIX) for d in cgroups.stale_dirs()}
    if STATE_DIR.is_dir():
        runs |= {d.name for d in STATE_DIR.iterdir() if d.is_dir()}
    removed = []
    for run in sorted(runs):
        if not _owner_alive(run):
            removed += remove_run(run)
    return removed


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so atexit and context managers clean up (Ctrl-C already does)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_signal)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
