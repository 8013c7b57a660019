"""The client side of the tier servers: load artifacts, send requests, build the latency breakdown."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgewise.errors import ServerError
from edgewise.tiers import parts, shaping, wire
from edgewise.tiers.peers import PeerLost, PeerPool, SocketFactory, plain_socket
from edgewise.tiers.probe import measure_goodput, measure_rtt
from edgewise.tiers.reshape import as_meta, reshape_in_place
from edgewise.tiers.shaping import LinkShape
from edgewise.tiers.spec import CLIENT, Route
from edgewise.tiers.wire import Frame


class TierDown(ServerError):
    """A tier server died or cannot be reached: restart it (and reload its artifacts), then retry."""

    def __init__(self, tier: str, detail: str = ""):
        self.tier = tier
        super().__init__(f"tier {tier} is down" + (f" ({detail})" if detail else ""), "restart the tier and retry")


class TierLost(TierDown):
    """A tier that cannot be restarted from here (a real host) stays down: the cells that need it
    wait for a later run, once its server is back."""

    def __init__(self, tier: str, detail: str = ""):
        super().__init__(tier, detail)
        self.hint = "start its `edgewise serve` again, then run the study again: it completes what is missing"


class TierBusy(ServerError):
    """A tier answered "busy": its queue was full and the request was not served."""

    def __init__(self, tier: str, detail: str = ""):
        self.tier = tier
        super().__init__(f"tier {tier} is busy" + (f" ({detail})" if detail else ""), "offer less load")


class DoesNotFit(ServerError):
    """A tier server was killed for exceeding its memory cap: the model does not fit on that tier."""

    def __init__(self, tier: str, detail: str = ""):
        self.tier = tier
        super().__init__(f"does not fit on {tier}" + (f" ({detail})" if detail else ""),
                         "give the tier more memory or deploy a smaller artifact")


class InferResult:
    """One request's logits and client-side latency, and its latency breakdown: client_encode,
    link:a-b, preprocess:t, compute:t, queue:t, overhead:t, decode (see `breakdown`); and how each
    computing tier was paced (`pacing`, `late_s`).

    The breakdown is built from the reply's hop records when it is first read, after the request
    is over, so a caller that only wants the logits does not wait for it."""

    __slots__ = ("logits", "total_s", "_names", "_hops", "_times", "_parts")

    def __init__(self, logits: np.ndarray, total_s: float, names: tuple, hops: bytes | None,
                 times: tuple[float, float, float]):
        self.logits, self.total_s = logits, total_s
        self._names, self._hops, self._times = names, hops, times  # times: encode, wait, decode seconds
        self._parts: dict[str, float] | None = None

    @property
    def breakdown(self) -> dict[str, float]:
        if self._parts is None:
            encode_s, wait_s, decode_s = self._times
            self._parts = breakdown(self._names, self._records(), encode_s, wait_s, decode_s)
        return self._parts

    @property
    def pacing(self) -> dict[str, dict[str, float]]:
        """Per computing tier: `host`, how much slower than nominal the host was (NaN where the tier
        follows no nominal speed), and `late_s`, how long its steps ran past the device's time."""
        out = {}
        for record, (tier, _, _, compute, _, _) in zip(self._records(), self._names):
            if compute is not None:
                out[tier] = {"host": record[6], "late_s": record[5]}
        return out

    @property
    def late_s(self) -> float:
        """How long this request's steps ran past their device's time, over every tier."""
        return sum(record[5] for record in self._records())

    def _records(self) -> list[tuple[float, ...]]:
        return wire.hop_records(self._hops) if self._hops is not None else []


@dataclass
class _Stream:
    """What every request of one artifact along one route shares, built at its first request."""

    tier: str  # the first hop's
    pool: PeerPool
    meta: dict[str, Any]  # the INFER metadata, the same for each request
    names: tuple  # the breakdown's keys (part_names)
    reuse: int = field(default_factory=lambda: next(_STREAM_IDS))  # names its header (wire.Frame.reuse)
    heads: dict[int, bytes] = field(default_factory=dict)  # payload length -> prefix + header of its request

    def request(self, payload: bytes | dict[str, np.ndarray]) -> list:
        """The request's buffers for sendmsg. A raw payload's prefix and header depend on its length
        alone, so they are encoded once per length."""
        if isinstance(payload, dict):
            return wire.encode(Frame("INFER", self.meta, dict(payload), reuse=self.reuse))
        if not isinstance(payload, bytes):
            payload = bytes(payload)  # a bytearray or memoryview: its length in bytes
        head = self.heads.get(len(payload))
        if head is None:
            if len(self.heads) >= _MAX_HEADS:
                self.heads.clear()
            head = self.heads[len(payload)] = bytes(wire.encode(Frame("INFER", self.meta, {"payload": payload}))[0])
        return [head, payload]


_MAX_HEADS = 256  # payload lengths remembered per stream (encoded images differ in length)
_STREAM_IDS = itertools.count()


# Called when a tier stops answering; returns the exception that explains it (TierDown or DoesNotFit).
Diagnose = Callable[[str, str], ServerError]


class TierClient:
    """Talks to the first tier of each route and can address any tier for control requests.

    `endpoints` are the data addresses (tier -> host:port) as seen from the client; `control`
    the addresses for LOAD/UNLOAD/PING/PROBE when they differ (a unix socket beside a network
    namespace). `shapes` shape the client's own outgoing links (message-level delay, modelled
    rate). With `ship_models` the ONNX bytes travel in LOAD; otherwise only their path does.
    """

    def __init__(self, endpoints: dict[str, str], token: str | None = None, timeout_s: float = 120.0, *,
                 control: dict[str, str] | None = None, shapes: dict[str, LinkShape] | None = None,
                 make_socket: SocketFactory = plain_socket, diagnose: Diagnose | None = None,
                 ship_models: bool = False):
        self.endpoints = dict(endpoints)
        self.token = token
        self.timeout_s = timeout_s
        self.ship_models = ship_models
        self._diagnose = diagnose or (lambda tier, detail: TierDown(tier, detail))
        shapes = shapes or {}
        self._data = {t: PeerPool(a, shapes.get(t, shaping.NO_SHAPE), timeout_s, make_socket) for t, a in endpoints.items()}
        self._control = {t: PeerPool(a, shaping.NO_SHAPE, timeout_s, make_socket)
                         for t, a in (control or endpoints).items()}
        self._streams: dict[tuple[str, Route], _Stream] = {}

    # --- control -----------------------------------------------------------------------------
    def load(self, tier: str, artifact_id: str, onnx_path: Path, role: str, preprocess: dict | None,
             cold_start: bool = False, input_meta: Any = None, runtime: dict[str, Any] | None = None,
             io: dict[str, Any] | None = None) -> dict[str, Any]:
        """Load one artifact part on `tier` under `artifact_id` (`input_meta` is read from the model itself),
        served by `runtime` ({name, settings}; None: ONNX Runtime); `io` names the inputs and outputs of a
        form that does not carry them. Returns the tier's reply (inputs, runtime, memory_mb)."""
        meta = {"artifact": artifact_id, "role": role, "preprocess": preprocess, "cold_start": cold_start}
        if runtime is not None:
            meta["runtime"] = runtime
        if io is not None:
            meta["io"] = io
        blobs: dict[str, Any] = {}
        if self.ship_models:
            blobs["payload"] = Path(onnx_path).read_bytes()
            meta["suffix"] = Path(onnx_path).suffix
        else:
            meta["path"] = str(Path(onnx_path).resolve())
        return self._control_request(tier, Frame("LOAD", meta, blobs)).meta

    def unload(self, tier: str, artifact_id: str) -> None:
        self._control_request(tier, Frame("UNLOAD", {"artifact": artifact_id}))

    def reshape(self, tier: str, shapes: dict[str, LinkShape]) -> dict[str, Any]:
        """New shapes of `tier`'s links to its neighbours (tiers/reshape.py), without restarting it."""
        return self._control_request(tier, Frame("SHAPE", {"shapes": as_meta(shapes)})).meta

    def reshape_own(self, shapes: dict[str, LinkShape]) -> None:
        """New shapes of the client's own links (to the tiers it sends requests to)."""
        current = {t: pool.shape for t, pool in self._data.items()}
        reshape_in_place(current, {t: s for t, s in shapes.items() if t in self._data})
        for t, pool in self._data.items():
            pool.shape = current[t]

    def ping(self, tier: str, reset_peak: bool = False) -> dict[str, Any]:
        """The tier's state; `reset_peak` starts a new peak RSS after reporting the current one."""
        return self._control_request(tier, Frame("PING", {"reset_peak": True} if reset_peak else {})).meta

    def probe(self, src: str, dst: str, nbytes: int = 0, count: int = 10) -> dict[str, float]:
        """RTT (and goodput of `nbytes` each way when > 0) of the link src -> dst, measured from src."""
        if src != CLIENT:
            return self._control_request(src, Frame("PROBE", {"target": dst, "bytes": nbytes, "count": count})).meta
        pool = self._pool(self._data, dst)
        try:
            figures = measure_rtt(pool, self.token, CLIENT, count)
            if nbytes:
                figures.update(measure_goodput(pool, self.token, CLIENT, nbytes, figures["rtt_ms"] / 1e3))
        except PeerLost as exc:
            raise self._diagnose(dst, str(exc)) from None
        return figures

    def request(self, tier: str, frame: Frame) -> Frame:
        """Any request to `tier` itself (no route), e.g. an INFER of tensors to time its compute."""
        return self._control_request(tier, frame)

    def _control_request(self, tier: str, frame: Frame) -> Frame:
        return self._exchange(self._pool(self._control, tier), tier, frame)

    def _pool(self, pools: dict[str, PeerPool], tier: str) -> PeerPool:
        if tier not in pools:
            raise ServerError(f"no endpoint for tier {tier!r}", f"known tiers: {', '.join(pools) or 'none'}")
        return pools[tier]

    def _exchange(self, pool: PeerPool, tier: str, frame: Frame) -> Frame:
        frame.meta["token"] = self.token
        return self._exchange_buffers(pool, tier, wire.encode(frame))

    def _exchange_buffers(self, pool: PeerPool, tier: str, buffers: list) -> Frame:
        try:
            reply = pool.exchange_buffers(buffers)
        except PeerLost as exc:
            raise self._diagnose(tier, str(exc)) from None
        if reply.type == "ERROR":
            if reply.meta.get("error") == wire.TIER_DOWN:
                raise self._diagnose(str(reply.meta.get("tier")), str(reply.meta.get("message", "")))
            if reply.meta.get("error") == wire.BUSY:
                raise TierBusy(tier, str(reply.meta.get("message", "")))
            raise ServerError(str(reply.meta.get("message", "request refused")), reply.meta.get("hint"))
        return reply

    # --- inference ---------------------------------------------------------------------------
    def infer(self, route: Route, artifact_id: str, payload: bytes | dict[str, np.ndarray]) -> InferResult:
        """One request: raw input bytes for the first compute tier to preprocess, or its input tensors."""
        t0 = time.perf_counter()
        stream = self._streams.get((artifact_id, route))
        if stream is None:
            stream = self._streams[(artifact_id, route)] = self._stream(artifact_id, route)
        buffers = stream.request(payload)
        t1 = time.perf_counter()
        reply = self._exchange_buffers(stream.pool, stream.tier, buffers)
        t2 = time.perf_counter()
        logits = reply.blobs["logits"]  # a view of the reply's body, which no one else holds
        hops = reply.blobs.get("hops")
        t3 = time.perf_counter()
        return InferResult(logits, t3 - t0, stream.names, hops, (t1 - t0, t2 - t1, t3 - t2))

    def _stream(self, artifact_id: str, route: Route) -> "_Stream":
        meta = {"token": self.token, "artifact": artifact_id, "hop": 0, "route": [list(h) for h in route.hops],
                "links": [list(link) for link in route.links]}
        return _Stream(route.hops[0][0], self._pool(self._data, route.hops[0][0]), meta, part_names(route))

    def close(self) -> None:
        for pool in (*self._data.values(), *self._control.values()):
            pool.close()

    def __enter__(self) -> "TierClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def breakdown(names: tuple, hops: list[tuple[float, ...]], encode_s: float, wait_s: float,
              decode_s: float) -> dict[str, float]:
    """Per-request parts: a link's transfer is the sender's wait minus the receiver's service time.

    `names` are the route's keys (part_names); `hops` the reply's hop records (wire.HOP_FIELDS)."""
    out = {parts.CLIENT_ENCODE: encode_s}
    sent_wait = wait_s  # how long the sender of each hop's request waited for its reply
    for record, (_, link, pre, comp, queued, overhead) in zip(hops, names):
        service, preprocess, compute, downstream, queue = record[:5]
        out[link] = sent_wait - service
        if preprocess:
            out[pre] = preprocess
        if comp is None:  # a relay computes nothing
            queue = 0.0
        else:
            out[comp] = compute
            out[queued] = queue  # 0 when the tier was idle; present on every compute hop, so the keys line up
        out[overhead] = service - preprocess - compute - queue - downstream
        sent_wait = downstream
    out[parts.DECODE] = decode_s
    return out


def part_names(route: Route) -> tuple[tuple[str, str, str, str | None, str | None, str], ...]:
    """Per hop, its tier and the breakdown's keys: link, preprocess, compute and queue (None on a relay),
    overhead."""
    names = []
    for (tier, role), (src, dst) in zip(route.hops, route.links):
        computes = role != wire.RELAY
        names.append((tier, parts.link(src, dst), parts.key(parts.PREPROCESS, tier),
                      parts.key(parts.COMPUTE, tier) if computes else None,
                      parts.key(parts.QUEUE, tier) if computes else None, parts.key(parts.OVERHEAD, tier)))
    return tuple(names)
