"""The tier server: one process per tier, warm sessions of any runtime (tiers/models.py), a thread per connection.

Requests (see wire.py for the framing): PING, LOAD, UNLOAD, INFER, ECHO, PROBE and SHAPE. An INFER
request carries its route; this server plays its hop's role:

    relay  forward the request unchanged to the next hop
    full   preprocess + run the model, reply with the logits
    head   preprocess + run the head, forward the cut tensors to the next hop (the tail)
    tail   run the tail on the received tensors, reply with the logits

Every reply carries one timing record per hop (service, preprocess, compute and the time spent
waiting on the next hop), from which the client derives each link's transfer time.

Every request is validated before any work: frame size and header (wire.py), the token when the
server listens off loopback, the artifact and role, tensor dtypes and shapes against the model's
inputs; a bad request gets an ERROR frame, never a crash. Frames that are malformed, truncated,
oversized or too slow also close the connection.

TLS: the server speaks plain TCP. Across an untrusted network put a TLS terminator in front of
each tier (stunnel or nginx `stream` with `proxy_pass 127.0.0.1:PORT`), keep the server on
loopback behind it, and still use a token; see docs/serving.md.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import json
import math
import os
import shutil
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgewise.data.preprocess import build_preprocessor
from edgewise.errors import ConfigError, DataError, EdgewiseError, ServerError
from edgewise.tiers import shaping, transport, watchdog, wire, workdirs
from edgewise.tiers.admission import DEFAULT_QUEUE_DEPTH, Admission, peak_rss_mb, reset_peak_rss
from edgewise.tiers.host import describe
from edgewise.tiers.hostspeed import Board, HostSpeed
from edgewise.tiers.models import InputMeta, Loaded, ModelRegistry, model_suffix, unload
from edgewise.tiers.peers import PeerLost, PeerPool
from edgewise.tiers.probe import measure_goodput, measure_rtt
from edgewise.tiers.reshape import as_meta, parse_shapes, reshape_in_place
from edgewise.tiers.shaping import LinkShape
from edgewise.tiers.speed import Pace
from edgewise.tiers.wire import Frame


@dataclass
class ServerConfig:
    tier: str
    listen: str = "127.0.0.1:0"
    control: str | None = None  # a unix socket path for control traffic (LOAD from outside the netns)
    token: str | None = None
    threads: int = 1
    speed: float = 1.0  # per-request speed relative to the nominal host (tiers/speed.py)
    # The board on which the testbed's probe posts the host's speed against nominal (tiers/hostspeed.py):
    # with it the tier keeps its absolute speed while the host drifts; without it (a real device) the
    # speed is relative to the host as it is now.
    host_board: str | None = None
    peers: dict[str, str] = field(default_factory=dict)  # tier -> host:port
    shapes: dict[str, LinkShape] = field(default_factory=dict)  # neighbour -> shaping of self -> neighbour
    max_frame: int = wire.DEFAULT_MAX_FRAME
    read_timeout_s: float = 10.0  # a started frame must complete within this (+ body at min rate)
    # A persistent connection may stay silent this long between requests. Short enough that silent
    # sockets cannot hold the connection slots for long; clients reconnect transparently (peers.py).
    idle_timeout_s: float = 60.0
    max_connections: int = 256
    queue_depth: int = DEFAULT_QUEUE_DEPTH  # requests waiting for the tier's compute before "busy"
    providers: list[str] | None = None
    workdir: Path | None = None
    memory_cap: dict[str, Any] | None = None  # how --memory-mb is enforced (tiers/memcap.py), for PING
    runtimes: list[str] | None = None  # the runtimes this host serves; None: every one installed


@dataclass(frozen=True)
class InferPlan:
    """What an INFER header asks of this tier, checked once: the requests of one cell share a
    header, so the token, the route and the artifact are looked up for the first one only."""

    route: list[list[str]]
    hop: int
    role: str
    loaded: Loaded | None  # None on a relay hop
    shape: LinkShape  # of the link the reply goes back on


_MAX_PLANS = 256


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TierServer:
    """Listens on TCP (and optionally a unix control socket) and answers frames until stopped."""

    def __init__(self, config: ServerConfig):
        self.config = config
        family, addr = transport.parse_address(config.listen)
        if family != socket.AF_INET:
            raise ConfigError(f"--listen {config.listen!r} must be host:port", "e.g. 127.0.0.1:7400")
        if not _is_loopback(addr[0]) and not config.token:
            raise ConfigError(f"listening on {addr[0]} (not loopback) needs a token",
                              "pass --token (or EDGEWISE_TOKEN) and give the same token to the client")
        self.artifacts: dict[str, Loaded] = {}  # by "artifact id/role"
        self.models = ModelRegistry(config.tier, config.threads, config.providers, config.runtimes)
        self._plans: dict[bytes, InferPlan] = {}  # by request header; emptied whenever what they name changes
        self._generation = 0  # counts those changes, so a plan checked meanwhile is not kept
        host = HostSpeed(Board(config.host_board)) if config.host_board else None
        self.pace = Pace(config.speed, config.threads, host)
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(config.max_connections)
        self._stop = threading.Event()
        self._peers: dict[str, PeerPool] = {}
        self.admission = Admission(config.tier, config.queue_depth)  # one compute at a time, bounded queue
        # Model bytes received over the wire are written here; a directory of our own is made on
        # first use and removed on stop, so servers leave nothing behind in /tmp.
        self._workdir: Path | None = Path(config.workdir) if config.workdir else None
        self._owns_workdir = False
        self._listeners = [self._bind_tcp(addr)]
        if config.control:
            self._listeners.append(self._bind_unix(config.control))
        self.address = "%s:%d" % self._listeners[0].getsockname()[:2]

        self.host = describe(config.threads, config.providers, config.memory_cap)  # what PING tells a client

    # --- lifecycle ---------------------------------------------------------------------------
    @staticmethod
    def _bind_tcp(addr: tuple[str, int]) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
        return sock

    @staticmethod
    def _bind_unix(path: str) -> socket.socket:
        Path(path).unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)  # only the owner may talk to the control socket
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        sock.listen(64)
        return sock

    def serve_forever(self) -> None:
        threads = [threading.Thread(target=self._accept_loop, args=(s,), daemon=True) for s in self._listeners]
        for t in threads:
            t.start()
        self._stop.wait()

    def start(self) -> "TierServer":
        """Serve from background threads (in-process use: tests, embedding)."""
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for s in self._listeners:
            try:
                s.close()
            except OSError:
                pass
        for pool in self._peers.values():
            pool.close()
        if self._owns_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
            self._owns_workdir = False

    def _model_dir(self) -> Path:
        with self._lock:
            if self._workdir is None:
                self._workdir = workdirs.make(self.config.tier)
                self._owns_workdir = True
            self._workdir.mkdir(parents=True, exist_ok=True)
            return self._workdir

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                conn.close()  # over the connection limit: refuse rather than queue without bound
                continue
            threading.Thread(target=self._serve_connection, args=(conn,), daemon=True).start()

    # --- one connection ----------------------------------------------------------------------
    def _serve_connection(self, conn: socket.socket) -> None:
        transport.configure(conn)
        guard = watchdog.guard(conn)
        reader = transport.FrameReader(conn, guard)
        try:
            while not self._stop.is_set():
                try:
                    request = reader.read(self.config.max_frame, timeout_s=self.config.read_timeout_s,
                                          idle_timeout_s=self.config.idle_timeout_s)
                except (wire.WireError, OSError) as exc:
                    self._reply_error(conn, exc, guard, close=True)
                    return
                if request is None:
                    return
                received = time.perf_counter()
                reply, shape = self._answer(request, received)
                try:
                    transport.send_buffers(conn, reply, shape, timeout_s=self.config.read_timeout_s, guard=guard)
                except OSError:
                    return
        finally:
            conn.close()
            self._slots.release()

    def _reply_error(self, conn: socket.socket, exc: BaseException, guard: watchdog.Guard, close: bool = False) -> None:
        try:
            transport.send_frame(conn, error_frame(exc, close=close), timeout_s=self.config.read_timeout_s, guard=guard)
        except OSError:
            pass

    def _answer(self, request: Frame, received: float) -> tuple[list, LinkShape]:
        """The reply to one request, encoded (wire.encode), and the shaping of the link it goes back on."""
        shape = shaping.NO_SHAPE
        try:
            if request.type == "INFER":
                plan = self._plans.get(request.header) if request.header is not None else None
                if plan is None:
                    plan = self._plan(request)
                shape = plan.shape
                return self._infer(request, received, plan), shape
            self._authorise(request)
            handler = {"PING": self._ping, "LOAD": self._load, "UNLOAD": self._unload,
                       "ECHO": self._echo, "PROBE": self._probe, "SHAPE": self._shape}.get(request.type)
            if handler is None:
                raise ServerError(f"unknown request type {request.type!r}",
                                  "use PING, LOAD, UNLOAD, INFER, ECHO, PROBE, SHAPE")
            if request.type == "ECHO" and request.meta.get("from") in self.config.shapes:
                shape = self.config.shapes[request.meta["from"]]
            return wire.encode(handler(request)), shape
        except EdgewiseError as exc:
            return wire.encode(error_frame(exc)), shape
        except Exception as exc:  # a runtime's failure on a validated request: report it, keep serving
            failure = ServerError(f"{type(exc).__name__}: {exc}", "check the model and its inputs")
            return wire.encode(error_frame(failure)), shape

    def _plan(self, request: Frame) -> InferPlan:
        """Check an INFER's token, route and artifact; the plan is kept for later requests of its header."""
        generation = self._generation
        self._authorise(request)
        route, links, hop = self._route(request)
        role = route[hop][1]
        loaded = None if role == wire.RELAY else self._artifact(request.meta.get("artifact"), role)
        plan = InferPlan(route, hop, role, loaded, self.config.shapes.get(links[hop][0], shaping.NO_SHAPE))
        if request.header is not None:
            with self._lock:
                if generation == self._generation:
                    if len(self._plans) >= _MAX_PLANS:
                        self._plans.clear()
                    self._plans[request.header] = plan
        return plan

    def _changed(self) -> None:
        """Artifacts or link shapes changed (call with the lock held): plans checked before are void."""
        self._generation += 1
        self._plans.clear()

    def _authorise(self, request: Frame) -> None:
        if not self.config.token:
            return
        given = request.meta.get("token")
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), self.config.token.encode()):
            raise ServerError(f"tier {self.config.tier}: missing or wrong token", "give the client the server's token")

    # --- control -----------------------------------------------------------------------------
    def _ping(self, request: Frame) -> Frame:
        with self._lock:
            loaded = {k: v.role for k, v in self.artifacts.items()}
        figures = {"tier": self.config.tier, "pid": os.getpid(), "artifacts": loaded, "rss_mb": _rss_mb(),
                   "threads": self.config.threads, "peak_rss_mb": peak_rss_mb(),
                   "queue_depth": self.admission.depth, "busy_replies": self.admission.busy_replies,
                   "host": self.host, "speed": self.config.speed,
                   "host_factor": None if self.pace.host is None else self.pace.host.factor,
                   "runtimes": self.config.runtimes}
        if request.meta.get("reset_peak"):  # a load test reads the peak of each cell, then starts a new one
            reset_peak_rss()
        return Frame("OK", figures)

    def _load(self, request: Frame) -> Frame:
        meta = request.meta
        art_id, role = meta.get("artifact"), meta.get("role")
        if not isinstance(art_id, str) or not art_id or role not in wire.ROLES:
            raise ServerError(f"LOAD needs an artifact id and a role in {wire.ROLES}", "send artifact=<id>, role=full|head|tail")
        path = self._model_file(request, art_id, role)
        spec = meta.get("preprocess")
        preprocess = build_preprocessor(spec) if spec is not None else None
        loaded, memory_mb = self.models.open(meta, path, preprocess)
        with self._lock:
            self.artifacts[f"{art_id}/{role}"] = loaded
            self._changed()
        return Frame("OK", {"inputs": [[i.name, i.dtype, list(i.shape)] for i in loaded.inputs],
                            "runtime": loaded.runtime.name, "memory_mb": memory_mb})

    def _model_file(self, request: Frame, art_id: str, role: str) -> Path:
        data = request.payload
        if data is not None:
            path = self._model_dir() / f"{_safe(art_id)}-{role}{model_suffix(request.meta)}"
            path.write_bytes(data)
            return path
        given = request.meta.get("path")
        if not isinstance(given, str) or not Path(given).is_file():
            raise DataError(f"tier {self.config.tier}: model file {given!r} not found",
                            "send the model's bytes, or a path this tier's host can read")
        return Path(given)

    def _shape(self, request: Frame) -> Frame:
        """New link shapes towards the neighbours named, applied to open connections too (tiers/reshape.py)."""
        with self._lock:
            reshape_in_place(self.config.shapes, parse_shapes(request.meta.get("shapes")))
            for tier, pool in self._peers.items():
                pool.shape = self.config.shapes.get(tier, shaping.NO_SHAPE)
            self._changed()
            return Frame("OK", {"shapes": as_meta(self.config.shapes)})

    def _unload(self, request: Frame) -> Frame:
        art_id = request.meta.get("artifact")
        with self._lock:
            gone = unload(self.artifacts, art_id)
            self._changed()
        return Frame("OK", {"unloaded": gone})

    def _echo(self, request: Frame) -> Frame:
        n = request.meta.get("reply_bytes", 0)
        if not isinstance(n, int) or not 0 <= n <= self.config.max_frame // 2:
            raise ServerError(f"ECHO reply_bytes {n!r} out of range", f"ask for at most {self.config.max_frame // 2} bytes")
        work_s = request.meta.get("work_s")
        if work_s is None:
            return Frame("OK", {}, {"payload": np.zeros(n, np.uint8)} if n else {})
        # A synthetic request of known service time (load tests): it holds the tier's compute work_s.
        if not isinstance(work_s, (int, float)) or not 0 <= work_s <= 1.0:
            raise ServerError(f"ECHO work_s {work_s!r} out of range", "ask for 0 to 1 s of work")
        compute_s, queued_s = self.admission.run(_hold, work_s)
        payload = {"payload": np.zeros(n, np.uint8)} if n else {}
        return Frame("OK", {"queue_s": queued_s, "compute_s": compute_s}, payload)

    def _probe(self, request: Frame) -> Frame:
        """Measure the link from this tier to `target` (RTT, then goodput of `bytes` each way)."""
        target, nbytes = request.meta.get("target"), request.meta.get("bytes", 0)
        pool, me, token = self._peer(target), self.config.tier, self.config.token
        try:
            figures = measure_rtt(pool, token, me, int(request.meta.get("count", 10)))
            if isinstance(nbytes, int) and nbytes > 0:
                figures.update(measure_goodput(pool, token, me, nbytes, figures["rtt_ms"] / 1e3))
        except PeerLost as exc:
            raise ServerError(f"tier {self.config.tier} cannot reach {target}: {exc}", "is the peer running?") from None
        return Frame("OK", figures)

    # --- inference ---------------------------------------------------------------------------
    def _route(self, request: Frame) -> tuple[list[list[str]], list[list[str]], int]:
        route, links, hop = request.meta.get("route"), request.meta.get("links"), request.meta.get("hop", 0)
        ok = (isinstance(route, list) and isinstance(links, list) and isinstance(hop, int) and 0 <= hop < len(route)
              and len(links) == len(route) and all(isinstance(h, list) and len(h) == 2 for h in route))
        if not ok:
            raise ServerError("INFER needs route, links and hop", "send requests made by TierClient.infer")
        if route[hop][0] != self.config.tier:
            raise ServerError(f"hop {hop} of the route is {route[hop][0]!r}, not this tier ({self.config.tier})",
                              "send the request to the tier its route names")
        return route, links, hop

    def _infer(self, request: Frame, received: float, plan: InferPlan) -> list:
        """The encoded reply to an INFER: the logits and this hop's record before those of the hops after it."""
        loaded, reply = plan.loaded, None
        if loaded is None:  # a relay computes nothing
            reply, wait_s = self._forward(request, dict(request.blobs), plan)
            preprocess_s = compute_s = late_s = 0.0
            queue_s = factor = math.nan
        else:
            (outputs, preprocess_s, compute_s, late_s, factor), queue_s = self.admission.run(self._compute, request,
                                                                                           loaded)
            if plan.role == wire.HEAD:
                reply, wait_s = self._forward(request, dict(zip(loaded.outputs, outputs)), plan)
            else:
                logits, downstream, wait_s = outputs[0], b"", 0.0
        if reply is not None:
            if reply.type != "RESULT":
                return wire.encode(reply)
            logits, downstream = reply.blobs["logits"], reply.blobs.get("hops", b"")
        own = wire.hop_record(time.perf_counter() - received, preprocess_s, compute_s, wait_s, queue_s, late_s, factor)
        return wire.encode_result(logits, own + downstream)

    def _compute(self, request: Frame, loaded: Loaded) -> tuple[list[np.ndarray], float, float, float, float]:
        """Preprocessing and the model run, what a request computes on the tier (one request at a
        time): the outputs in the model's order, the seconds each part took, how long they ran past the
        device's time and the host's factor they were held by (tiers/speed.py)."""
        payload, preprocess_s, late_s = request.payload, 0.0, 0.0
        # A step is timed again warm only while no request waits: under load the second runs would take most
        # of a core (an edge's hold is about one run long), close to the tier's CPU quota.
        again = not self.admission.queued
        model_key = (loaded.artifact_id, loaded.role, "model") if again and loaded.session is not None else None
        if payload is not None and loaded.preprocess is not None:
            t0 = time.perf_counter()
            preprocess_key = (loaded.artifact_id, loaded.role, "preprocess") if again else None
            feeds, late_s, _ = self.pace.run(loaded.preprocess, payload, again=preprocess_key)  # DataError: undecodable
            preprocess_s = time.perf_counter() - t0
        else:
            feeds = request.tensors
        check_feeds(feeds, loaded.inputs, self.config.tier)
        t0 = time.perf_counter()
        # compute:TIER includes the stretch; a cold start's run (a session opened per request) is not repeated
        outputs, late_run_s, factor = self.pace.run(self._run, loaded, feeds, again=model_key)
        return outputs, preprocess_s, time.perf_counter() - t0, late_s + late_run_s, factor

    def _artifact(self, art_id: Any, role: str) -> Loaded:
        with self._lock:
            loaded = self.artifacts.get(f"{art_id}/{role}")
        if loaded is None:
            raise ServerError(f"tier {self.config.tier} holds no artifact {art_id!r} as {role}",
                              "LOAD it on this tier before INFER")
        return loaded

    def _run(self, loaded: Loaded, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return loaded.run(feeds)  # cold start: a new session per request

    def _forward(self, request: Frame, blobs: dict[str, Any], plan: InferPlan) -> tuple[Frame, float]:
        """The next hop's reply to the request carrying `blobs`, and the seconds spent waiting for it."""
        route, hop = plan.route, plan.hop
        if hop + 1 >= len(route):
            raise ServerError(f"tier {self.config.tier} ({route[hop][1]}) is the last hop but must forward",
                              "end a route with a full or tail hop")
        target = route[hop + 1][0]
        onward = Frame("INFER", {**request.meta, "hop": hop + 1, "token": self.config.token}, blobs,
                       reuse=None if request.header is None else (request.header, hop + 1))
        t0 = time.perf_counter()
        try:
            reply = self._peer(target).exchange(onward)
        except PeerLost as exc:
            return Frame("ERROR", {"error": wire.TIER_DOWN, "tier": target, "message": str(exc)}), 0.0
        return reply, time.perf_counter() - t0

    def _peer(self, tier: Any) -> PeerPool:
        with self._lock:
            pool = self._peers.get(tier)
            if pool is None:
                if tier not in self.config.peers:
                    raise ServerError(f"tier {self.config.tier} knows no address for {tier!r}",
                                      "start the server with --peers tier=host:port,...")
                pool = PeerPool(self.config.peers[tier], self.config.shapes.get(tier, shaping.NO_SHAPE),
                                max_frame=self.config.max_frame)
                self._peers[tier] = pool
            return pool


def check_feeds(feeds: dict[str, np.ndarray], inputs: list[InputMeta], tier: str) -> None:
    """Names, dtypes and shapes of `feeds` must match the model's inputs exactly."""
    if len(feeds) != len(inputs) or any(meta.name not in feeds for meta in inputs):
        expected = sorted(i.name for i in inputs)
        raise DataError(f"tier {tier}: inputs {sorted(feeds)} do not match the model's {expected}",
                        "send exactly the model's inputs")
    for meta in inputs:
        arr = feeds[meta.name]
        if arr.dtype != meta.numpy_dtype:
            raise DataError(f"tier {tier}: input {meta.name!r} is {arr.dtype.name}, the model wants {meta.dtype}",
                            "send the model's dtype")
        shape = arr.shape
        if shape != meta.shape and (len(shape) != len(meta.shape)
                                    or any(d is not None and d != a for d, a in zip(meta.shape, shape))):
            shown = ["?" if d is None else d for d in meta.shape]
            raise DataError(f"tier {tier}: input {meta.name!r} has shape {list(shape)}, the model wants {shown}",
                            "send the model's shape")


def error_frame(exc: BaseException, close: bool = False) -> Frame:
    """An ERROR frame: the error's wire code (wire.BUSY, ...) where a client acts on it, else its class's name."""
    hint = getattr(exc, "hint", None)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    code = getattr(exc, "wire_code", None) or type(exc).__name__
    return Frame("ERROR", {"error": code, "message": message, "hint": hint, "close": close})


def _hold(seconds: float) -> float:
    """Occupy the tier's compute for `seconds` without using the host's CPU; returns the time held."""
    t0 = time.perf_counter()
    time.sleep(seconds)
    return time.perf_counter() - t0


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80]


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


# --- command line (the testbeds spawn `python -m edgewise.tiers.server`) -----------------------

def parse_peers(text: str | None) -> dict[str, str]:
    """'edge=10.0.0.2:7400,cloud=10.0.0.3:7400' -> {tier: address}."""
    peers = {}
    for item in filter(None, (text or "").split(",")):
        tier, sep, addr = item.partition("=")
        if not sep:
            raise ConfigError(f"bad peer {item!r}", "write tier=host:port, comma separated")
        transport.parse_address(addr)
        peers[tier.strip()] = addr.strip()
    return peers


def default_providers() -> list[str]:
    """CUDA when this host's ONNX Runtime has it, CPU otherwise."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="edgewise-tier-server")
    parser.add_argument("--tier", required=True)
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--control")
    parser.add_argument("--token", default=os.environ.get("EDGEWISE_TOKEN"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--speed", type=float, default=1.0, help="per-request speed relative to the nominal host, <= 1")
    parser.add_argument("--host-board", help="the testbed's board of the host's speed against nominal: the tier then "
                        "keeps its absolute speed while the host drifts (without it the speed is relative to the host now)")
    parser.add_argument("--peers")
    parser.add_argument("--shapes", default="{}", help="JSON {neighbour: {delay_s, rate_mbit}}")
    parser.add_argument("--max-frame-mb", type=float, default=64.0)
    parser.add_argument("--read-timeout-s", type=float, default=10.0)
    parser.add_argument("--cpu-only", action="store_true")
    parser.add_argument("--queue-depth", type=int, default=DEFAULT_QUEUE_DEPTH,
                        help="requests that may wait for the tier's compute; more get a busy reply")
    parser.add_argument("--workdir", type=Path, help="where received models are written (default: a temporary "
                        "directory removed on exit)")
    args = parser.parse_args(argv)
    config = ServerConfig(
        tier=args.tier, listen=args.listen, control=args.control, token=args.token, threads=args.threads,
        speed=args.speed, host_board=args.host_board, peers=parse_peers(args.peers), shapes={k: LinkShape.from_dict(v) for k, v in json.loads(args.shapes).items()},
        max_frame=int(args.max_frame_mb * 2**20), read_timeout_s=args.read_timeout_s,
        providers=["CPUExecutionProvider"] if args.cpu_only else default_providers(), workdir=args.workdir,
        queue_depth=args.queue_depth)
    try:
        server = TierServer(config)
    except EdgewiseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # SIGTERM (how testbeds stop a tier) ends serve_forever through stop(), which cleans up.
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    print(f"ready {config.tier} {server.address}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
