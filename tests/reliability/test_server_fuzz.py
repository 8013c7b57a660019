"""Fuzzing a real tier server process with 10,000+ generated requests over real sockets.

Structured frames with mutated headers, blob descriptions, dtypes, shapes and lengths, valid
frames with flipped or cut bytes, and raw garbage. Every reply must be a well-formed OK, RESULT
or ERROR frame (or the connection closed); afterwards the server answers a correct request with
the same logits as before, its RSS has not grown beyond a bound, and its pid never changed.
"""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgewise.tiers import transport, wire
from edgewise.tiers.client import TierClient
from edgewise.tiers.spec import Placement, route_for
from tests.reliability.helpers import IMAGE_SPEC, ServerProcess, linear_onnx, png_bytes

EXAMPLES = 1000
REQUESTS_PER_EXAMPLE = 10  # 10,000 requests in all
MAX_FRAME_MB = 1
RSS_GROWTH_MB = 64  # ORT's arena and Python's allocator settle; a leak per request would exceed this
ARTIFACTS = ("lin", "img")  # loaded before fuzzing; the fuzzer never unloads them

DTYPES = sorted(wire._DTYPES) + ["complex64", "object", "<f4", ""]
TYPES = ["INFER", "PING", "LOAD", "UNLOAD", "ECHO", "PROBE", "RESULT", "", "infer"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = linear_onnx(tmp_path_factory.mktemp("fuzz") / "linear.onnx")
    with ServerProcess("--max-frame-mb", str(MAX_FRAME_MB), "--read-timeout-s", "0.5") as proc:
        with TierClient({"mobile": proc.address}, timeout_s=10) as client:
            client.load("mobile", "lin", model, "full", None)
            client.load("mobile", "img", model, "full", IMAGE_SPEC)
        yield proc


def _correct_logits(server: ServerProcess) -> tuple[np.ndarray, np.ndarray]:
    """One correct request per artifact: raw tensors to `lin`, a PNG to `img`."""
    pixels = np.linspace(0, 1, 256, dtype=np.float32).reshape(1, 1, 16, 16)
    route = {"route": [["mobile", "full"]], "links": [["client", "mobile"]], "hop": 0}
    with TierClient({"mobile": server.address}, timeout_s=10) as client:
        reply = client._exchange(client._data["mobile"], "mobile",
                                 wire.Frame("INFER", {**route, "artifact": "lin"}, {"pixel_values": pixels}))
        image = client.infer(route_for(Placement.parse("mobile")), "img", png_bytes(3)).logits
    return np.array(reply.blobs["logits"]), image


# --- what the fuzzer sends ---------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=12)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
shapes = st.lists(st.integers(-2, 40), max_size=5) | json_values


@st.composite
def routes(draw) -> dict:
    """A route that is sometimes right, often subtly wrong."""
    tier = draw(st.sampled_from(["mobile", "edge", "cloud", "", "mobile\x00"]))
    role = draw(st.sampled_from(["full", "head", "tail", "relay", "boss"]))
    meta = {"route": [[tier, role]], "links": [["client", tier]], "hop": draw(st.sampled_from([0, 0, 1, -1, "0"]))}
    if draw(st.booleans()):
        key = draw(st.sampled_from(["route", "links", "hop"]))
        meta[key] = draw(json_values)
    return meta


@st.composite
def blobs(draw) -> tuple[list, bytes]:
    """Blob descriptions and a body: honest, or lying about dtype, shape, size or name."""
    descs, body = [], b""
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["pixel_values", "payload", "x", ""]))
        dtype = draw(st.sampled_from(DTYPES))
        shape = draw(st.lists(st.integers(0, 16), max_size=4))
        itemsize = np.dtype(dtype).itemsize if dtype in wire._DTYPES and dtype != wire.BYTES else 1
        nbytes = int(np.prod(shape, dtype=np.int64)) * itemsize
        data = draw(st.binary(min_size=nbytes, max_size=nbytes)) if nbytes <= 512 else bytes(nbytes)
        desc = [name, dtype, shape, nbytes]
        if draw(st.integers(0, 3)) == 0:  # lie in one field
            field = draw(st.integers(0, 3))
            desc[field] = draw(shapes if field == 2 else json_values)
        if draw(st.integers(0, 9)) == 0:
            desc = draw(json_values)
        descs.append(desc)
        body += data
    return descs, body


@st.composite
def structured(draw) -> bytes:
    """A frame built field by field: type, metadata and blobs mutated, lengths sometimes wrong."""
    meta = {"type": draw(st.sampled_from(TYPES))}
    if meta["type"] in ("INFER", "infer"):
        meta.update(draw(routes()))
        meta["artifact"] = draw(st.sampled_from([*ARTIFACTS, "ghost", 7]))
    elif meta["type"] in ("LOAD", "UNLOAD"):
        meta.update(artifact=draw(st.text(max_size=6).map(lambda t: "fz-" + t)),
                    role=draw(st.sampled_from(["full", "head", "x"])), path=draw(st.text(max_size=10)),
                    preprocess=draw(st.sampled_from([None, {"kind": "image"}, {"kind": "nope"}, IMAGE_SPEC])))
    elif meta["type"] == "ECHO":
        meta["reply_bytes"] = draw(st.integers(-10, MAX_FRAME_MB * 2**20))
    elif meta["type"] == "PROBE":
        meta.update(target=draw(st.sampled_from(["edge", "mobile", ""])), bytes=draw(st.integers(0, 10)), count=1)
    meta.update(draw(st.dictionaries(st.sampled_from(["token", "hop", "close", "extra"]), json_values, max_size=2)))
    descs, body = draw(blobs())
    header = json.dumps({**meta, "blobs": descs}).encode()
    if draw(st.integers(0, 9)) == 0:
        header = draw(st.sampled_from([b"[]", b"{", b'"x"', b"\xff\xfe", b"{}", b'{"type": 1}']))
    header_len, body_len = len(header), len(body)
    if draw(st.integers(0, 7)) == 0:  # lengths that lie (the frame is then cut or overlong)
        header_len = draw(st.integers(0, wire.MAX_HEADER * 2))
        body_len = draw(st.integers(0, 2**64 - 1))
    magic, version = (wire.MAGIC, wire.VERSION) if draw(st.integers(0, 15)) else (b"EX", draw(st.integers(0, 255)))
    return wire.PREFIX.pack(magic, version, draw(st.integers(0, 255)), header_len, body_len) + header + body


@st.composite
def mutated(draw) -> bytes:
    """A correct INFER frame with bytes flipped, cut or appended."""
    pixels = draw(st.sampled_from([np.zeros((1, 1, 16, 16), np.float32), np.ones((2, 1, 16, 16), np.float32)]))
    frame = wire.Frame("INFER", {"route": [["mobile", "full"]], "links": [["client", "mobile"]], "hop": 0, "artifact": "lin"},
                       {"pixel_values": pixels})
    data = bytearray(b"".join(bytes(b) for b in wire.encode(frame)))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    cut = draw(st.none() | st.integers(0, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=8))


payloads_for_img = st.sampled_from([b"", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, png_bytes(1)[:60], png_bytes(2)]) | st.binary(max_size=64)


@st.composite
def image_requests(draw) -> bytes:
    """INFER to the image artifact with a payload that is an image, part of one, or not one."""
    frame = wire.Frame("INFER", {"route": [["mobile", "full"]], "links": [["client", "mobile"]], "hop": 0, "artifact": "img"},
                       {"payload": draw(payloads_for_img)})
    return b"".join(bytes(b) for b in wire.encode(frame))


requests = st.one_of(structured(), structured(), mutated(), image_requests(), st.binary(min_size=1, max_size=64))


# --- sending -----------------------------------------------------------------------------------

class Sender:
    """Sends raw requests on a persistent connection, opening a new one when the server closes it."""

    def __init__(self, address: str):
        host, port = address.rsplit(":", 1)
        self.addr = (host, int(port))
        self.sock: socket.socket | None = None
        self.sent = 0
        self.replies: dict[str, int] = {}

    def send(self, data: bytes) -> None:
        if self.sock is None:
            self.sock = socket.create_connection(self.addr, timeout=5)
        self.sent += 1
        try:
            self.sock.sendall(data)
            # Anything but a whole, well-formed frame: say we are done so the server sees EOF, not a stall.
            if not _complete_frame(data):
                self.sock.shutdown(socket.SHUT_WR)
            reply = transport.read_frame(self.sock, max_frame=64 * 2**20, timeout_s=5, idle_timeout_s=5)
        except TimeoutError:
            raise AssertionError(f"no reply within 5 s to {data[:80]!r}") from None
        except (OSError, wire.WireError):  # the server closed first (it may answer a bad prefix at once)
            reply = None
        if reply is None:
            self._reset()
            self.replies["closed"] = self.replies.get("closed", 0) + 1
            return
        assert reply.type in ("OK", "RESULT", "ERROR"), reply
        if reply.type == "ERROR":
            assert isinstance(reply.meta.get("message"), str) and reply.meta["message"]
        self.replies[reply.type] = self.replies.get(reply.type, 0) + 1
        if reply.meta.get("close") or not _complete_frame(data):
            self._reset()

    def _reset(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


def _complete_frame(data: bytes) -> bool:
    if len(data) < wire.PREFIX.size:
        return False
    magic, version, _, header_len, body_len = wire.PREFIX.unpack(data[: wire.PREFIX.size])
    return (magic == wire.MAGIC and version == wire.VERSION and header_len <= wire.MAX_HEADER
            and wire.PREFIX.size + header_len + body_len == len(data) and header_len + body_len <= MAX_FRAME_MB * 2**20)


def test_ten_thousand_fuzzed_requests_leave_the_server_whole(server):
    before = _correct_logits(server)
    rss_start = server.rss_mb()
    senders = [Sender(server.address) for _ in range(4)]

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(batch=st.lists(requests, min_size=REQUESTS_PER_EXAMPLE, max_size=REQUESTS_PER_EXAMPLE),
           which=st.integers(0, 3))
    def fuzz(batch: list[bytes], which: int) -> None:
        for data in batch:
            senders[which].send(data)
        assert server.alive(), "the tier server died"

    fuzz()
    sent = sum(s.sent for s in senders)
    replies = {k: sum(s.replies.get(k, 0) for s in senders) for k in ("OK", "RESULT", "ERROR", "closed")}
    print(f"fuzz: {sent} requests, replies {replies}, RSS {rss_start:.0f} -> {server.rss_mb():.0f} MB")
    assert sent >= EXAMPLES * REQUESTS_PER_EXAMPLE
    assert replies["ERROR"] > sent // 4 and replies["RESULT"] > 0  # both paths were exercised
    assert server.alive()
    after = _correct_logits(server)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    with TierClient({"mobile": server.address}) as client:
        ping = client.ping("mobile")
    assert ping["pid"] == server.pid and set(ping["artifacts"]) >= {"lin/full", "img/full"}
    assert server.rss_mb() - rss_start < RSS_GROWTH_MB, (rss_start, server.rss_mb())
