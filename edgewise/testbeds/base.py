"""The Testbed contract (the emulation report it gives lives in testbeds/emulation.py)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Callable

from edgewise.errors import TestbedError
from edgewise.testbeds.awake import AwakeCores
from edgewise.testbeds.emulation import EmulationReport
from edgewise.testbeds.kinds import KINDS
from edgewise.testbeds.nominal import HostNominal, machine_nominal
from edgewise.testbeds.processes import ProbeProcess
from edgewise.testbeds.verify import verify_links
from edgewise.tiers.client import TierClient
from edgewise.tiers.hostspeed import Board
from edgewise.tiers.spec import LinkSpec, TierSpec


class Testbed(ABC):
    """Brings tiers and links to life, says where each tier answers, and verifies the emulation.

    What a testbed can do is stated by the class, and callers ask it rather than its kind."""

    __test__ = False
    kind: str = ""
    modelled: bool = False  # True where links are modelled in the wire layer, not emulated by the kernel
    emulates_speed: bool = True  # False where the tiers are real devices, whose speed is what it is
    # Real hosts: what the tiers and links are is measured (before the build: partition cuts use it), the
    # study starts only the tiers its cells use and judges the network against testbed.expect.
    real_hosts: bool = False
    can_reshape: bool = True  # links can take a network condition's figures while running
    can_restart: bool = True  # a dead tier can be started again from here

    def __init_subclass__(cls, **kw) -> None:
        super().__init_subclass__(**kw)
        if cls.kind:
            KINDS[cls.kind] = cls

    @classmethod
    @abstractmethod
    def from_config(cls, config) -> "Testbed":
        """The testbed a study's `testbed:` section (an edgewise.config.TestbedConfig) asks for."""

    @classmethod
    def check_config(cls, config) -> str | None:
        """What is wrong with `config` for this kind of testbed, in one sentence; None when nothing is."""
        if config.expect and not cls.real_hosts:
            return ("testbed.expect bounds what real hosts measure: use it with a testbed of real hosts (kind: "
                    "remote); emulated links are checked against testbed.links and tolerance")
        return None
    # The host speed the tiers' speeds are relative to: a study sets the one it keeps; else the machine's.
    nominal: HostNominal | None = None
    tiers: dict[str, TierSpec]

    def host_nominal(self) -> HostNominal:
        """The nominal host speed the tiers emulate their devices against (measured once per machine)."""
        if self.nominal is None:
            self.nominal = machine_nominal()
        return self.nominal

    def start_probe(self, directory: Path, setup: Callable[[], None] | None = None) -> str:
        """Start the probe of the host's speed that every tier reads (tiers/hostspeed.py); returns its board.
        `setup` runs in the probe's process before it starts: a testbed puts it where its tiers' steps run
        (the probe must meet the host's other work as a step does, or it misjudges the host's speed).
        The host's cores are held awake from here until `stop_probe` (testbeds/awake.py): a step's time must
        not depend on how long the host idled before it."""
        self._awake = AwakeCores()
        board = Board.create(directory / "host-speed.board")
        self._probe = ProbeProcess(board, self.host_nominal().probe_s, directory / "host-probe.log", setup)
        self._probe.spawn()
        self._board = Board(board)
        return str(board)

    def host_board(self) -> Board | None:
        """The board the probe posts the host's speed on, while the testbed runs (None where none runs)."""
        return getattr(self, "_board", None)

    def stop_probe(self) -> None:
        probe, self._probe, self._board = getattr(self, "_probe", None), None, None
        if probe is not None:
            probe.kill()
        awake, self._awake = getattr(self, "_awake", None), None
        if awake is not None:
            awake.release()

    def idle_states(self) -> str | None:
        """Whether the host's cores are held awake while this testbed emulates, in a sentence for its report."""
        awake = getattr(self, "_awake", None)
        return awake.describe() if awake is not None else None

    @abstractmethod
    def start(self, tiers: dict[str, TierSpec], links: list[LinkSpec]) -> None: ...

    def client_side(self) -> AbstractContextManager[None]:
        """Where the measuring client runs while it measures: the client stands beside the device, so a
        testbed that can keeps the host's other work from taking its time (the linux testbed: a cgroup of
        a tier's weight)."""
        return nullcontext()

    @abstractmethod
    def endpoint(self, tier: str) -> str:
        """host:port of `tier` as seen from the client."""

    @abstractmethod
    def client(self, timeout_s: float = 120.0) -> TierClient: ...

    def tier_client(self, timeout_s: float = 120.0) -> TierClient:
        """A client that reaches each tier directly, off the links and the relays (the speed check times a
        tier's compute alone); the study's client where that is the only way in."""
        return self.client(timeout_s)

    @abstractmethod
    def verify(self, quick: bool = False) -> EmulationReport:
        """Measure every figure; `quick` uses smaller transfers and workloads (tests)."""

    @abstractmethod
    def restart(self, tier: str) -> None:
        """Restart a dead tier server; it comes back empty and needs its artifacts loaded again."""

    @abstractmethod
    def stop(self) -> None: ...

    def reshape(self, links: list[LinkSpec], client: TierClient) -> None:
        """Give the running links new figures in place (no tier restarts); `client` is the study's,
        whose own links change too. Testbeds whose links are real cannot."""
        raise TestbedError(f"the {self.kind} testbed cannot change its links while running",
                           "sweep network conditions on a linux or local testbed")

    def verify_links(self, links: list[LinkSpec], quick: bool = False) -> EmulationReport:
        """Bandwidth and RTT of the given links only, as they are now (after a reshape)."""
        report = EmulationReport(self.kind, self.modelled)
        with self.client() as client:
            verify_links(client, links, report, quick)
        return report

    def __enter__(self) -> "Testbed":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
