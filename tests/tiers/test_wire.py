import math
import socket
import threading

import numpy as np
import pytest

from edgewise.tiers import shaping, transport, watchdog, wire
from edgewise.tiers.wire import Frame


def _roundtrip(frame: Frame, max_frame: int = wire.DEFAULT_MAX_FRAME) -> Frame:
    a, b = socket.socketpair()
    with a, b:
        import threading

        sender = threading.Thread(target=transport.send_frame, args=(a, frame))
        sender.start()
        got = transport.read_frame(b, max_frame, timeout_s=5)
        sender.join()
    return got


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64", "int64", "int32", "int8", "uint8", "bool"])
def test_tensors_keep_dtype_shape_and_values(dtype):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((2, 3, 5)) * 10).astype(dtype)
    got = _roundtrip(Frame("INFER", {"hop": 1}, {"x": arr, "scalar": np.array(3, dtype=dtype)}))
    assert got.type == "INFER" and got.meta["hop"] == 1
    assert got.blobs["x"].dtype == arr.dtype and got.blobs["x"].shape == arr.shape
    np.testing.assert_array_equal(got.blobs["x"], arr)
    assert got.blobs["scalar"].shape == ()


def test_large_payload_and_raw_bytes():
    big = np.arange(6_000_000, dtype=np.float32).reshape(2000, 3000)  # 24 MB
    got = _roundtrip(Frame("ECHO", {}, {"t": big, "payload": b"\xff\xd8jpeg bytes"}))
    np.testing.assert_array_equal(got.blobs["t"], big)
    assert got.payload == b"\xff\xd8jpeg bytes"


def test_header_is_compact_and_tensor_bytes_raw():
    buffers = wire.encode(Frame("INFER", {}, {"x": np.zeros((1, 3, 224, 224), np.float32)}))
    assert len(buffers[0]) < 200  # prefix + JSON header; the tensor itself is not in it
    assert sum(map(len, buffers[1:])) == 3 * 224 * 224 * 4


def test_oversized_frame_is_refused_before_reading_the_body():
    with pytest.raises(wire.WireError, match="exceeds the limit"):
        _roundtrip(Frame("ECHO", {}, {"payload": b"x" * 4096}), max_frame=1024)


def test_inconsistent_blob_description_is_refused():
    header = b'{"type":"INFER","blobs":[["x","float32",[4],8]]}'
    with pytest.raises(wire.WireError, match="do not hold"):
        wire.decode(header, memoryview(b"\0" * 8))


def test_delay_shaping_waits_before_sending():
    import time

    a, b = socket.socketpair()
    with a, b:
        t0 = time.perf_counter()
        transport.send_frame(a, Frame("PING"), shaping.LinkShape(delay_s=0.05))
        assert time.perf_counter() - t0 >= 0.05
        assert transport.read_frame(b, timeout_s=1).type == "PING"


def test_modelled_rate_paces_bytes():
    import threading
    import time

    a, b = socket.socketpair()
    with a, b:
        shape = shaping.LinkShape(rate_mbit=8.0)  # 1 MB/s
        reader = threading.Thread(target=transport.read_frame, args=(b,), kwargs={"timeout_s": 5})
        reader.start()
        t0 = time.perf_counter()
        transport.send_frame(a, Frame("ECHO", {}, {"payload": b"x" * 300_000}), shape)
        elapsed = time.perf_counter() - t0
        reader.join()
    assert 0.25 < elapsed < 0.45


def test_a_frame_arriving_in_pieces_is_read_whole_on_a_blocking_socket():
    frames = [Frame("INFER", {"hop": i}, {"x": np.full((3, 4), i, np.float32), "payload": b"p" * (i + 1)}) for i in range(3)]
    data = b"".join(bytes(b) for f in frames for b in wire.encode(f))
    a, b = socket.socketpair()
    with a, b:
        import threading
        import time

        def dribble():
            for start in range(0, len(data), 7):  # the prefix, the header and the body each split
                a.sendall(data[start : start + 7])
                time.sleep(0.001)

        sender = threading.Thread(target=dribble)
        sender.start()
        got = []
        for _ in frames:
            got.append(transport.read_frame(b, timeout_s=5, idle_timeout_s=30))
            assert b.gettimeout() is None  # deadlines are the watchdog's: the socket keeps blocking
            assert watchdog.guard(b).deadline is None  # and none is left armed between frames
        sender.join()
    for i, frame in enumerate(got):
        assert frame is not None and frame.meta["hop"] == i and frame.payload == b"p" * (i + 1)
        np.testing.assert_array_equal(frame.blobs["x"], np.full((3, 4), i, np.float32))


def test_a_send_the_peer_never_reads_is_cut_off_by_the_watchdog():
    """Blocking sockets keep no timeout of their own: a stalled send ends at its deadline instead."""
    import time

    a, b = socket.socketpair()
    with a, b:
        t0 = time.monotonic()
        with pytest.raises(OSError):
            transport.send_frame(a, Frame("ECHO", {}, {"payload": b"x" * 8_000_000}), timeout_s=0.3, min_rate=1e9)
        elapsed = time.monotonic() - t0
        assert watchdog.guard(a).expired
    assert 0.3 <= elapsed < 0.3 + 4 * watchdog.TICK_S


def test_frames_of_one_header_share_its_parse_but_not_their_metadata():
    frame = Frame("INFER", {"hop": 0, "route": [["mobile", "full"]]}, {"payload": b"abc"}, reuse=("stream", 1))
    first, second = (wire.encode(frame) for _ in range(2))
    assert first[0] == second[0]  # the header was serialized once and reused
    header = first[0][wire.PREFIX.size:]
    one = wire.decode(header, memoryview(b"abc"))
    one.meta["hop"] = 5  # a server may change its copy of the metadata ...
    two = wire.decode(header, memoryview(b"xyz"))
    assert two.meta["hop"] == 0 and two.payload == b"xyz"  # ... without touching the next frame's
    assert one.header == two.header == header


def test_hop_records_travel_as_packed_doubles_first_hop_first():
    edge = wire.hop_record(2.0, 0.0, 1.5, 0.0, 0.25, 0.125, 1.25)
    relay = wire.hop_record(3.0, 0.0, 0.0, 2.5, math.nan) + edge
    records = wire.hop_records(relay)
    assert records[1] == (2.0, 0.0, 1.5, 0.0, 0.25, 0.125, 1.25)  # ran 0.125 s late on a host 1.25x nominal
    assert records[0][:4] == (3.0, 0.0, 0.0, 2.5) and records[0][4] != records[0][4]  # NaN: a relay queues nothing
    assert records[0][5] == 0.0 and records[0][6] != records[0][6]  # nor runs late, nor follows a host
    with pytest.raises(wire.WireError, match="whole number"):
        wire.hop_records(relay[:-1])


def test_a_forked_child_keeps_its_deadlines():
    """The watchdog's thread does not survive fork(): the child starts its own, so a silent peer
    still ends a read there (exit 0), rather than blocking it for ever."""
    import os
    import time

    a, b = socket.socketpair()
    c, d = socket.socketpair()
    with a, b, c, d:
        watchdog.guard(b)
        transport.read_frame(d, timeout_s=5, idle_timeout_s=0.01)  # the parent's watchdog runs (and cuts d)
        pid = os.fork()
        if pid == 0:  # the child: b's peer stays silent
            code = 1
            try:
                code = 0 if transport.read_frame(b, timeout_s=5, idle_timeout_s=0.3) is None else 2
            finally:
                os._exit(code)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise AssertionError("the child's read was never cut off")
    assert os.waitstatus_to_exitcode(status) == 0


def test_an_infer_result_encodes_as_the_general_frame_does():
    hops = wire.hop_record(2.0, 0.0, 1.5, 0.0, 0.25)
    for logits in (np.arange(8, dtype=np.float32).reshape(1, 8), np.arange(6, dtype=np.float16).reshape(3, 2)[:, :1]):
        general = wire.encode(Frame("RESULT", {}, {"logits": logits, "hops": hops}))
        for _ in range(2):  # the second time from the cached head
            fast = wire.encode_result(logits, hops)
            assert [bytes(b) for b in fast] == [bytes(b) for b in general]
    a, b = socket.socketpair()
    with a, b:
        transport.send_buffers(a, wire.encode_result(np.ones((1, 3), np.float32), hops))
        reply = transport.read_frame(b, timeout_s=1)
    assert reply.type == "RESULT" and reply.blobs["logits"].tolist() == [[1.0, 1.0, 1.0]]
    assert wire.hop_records(reply.blobs["hops"])[0][:5] == (2.0, 0.0, 1.5, 0.0, 0.25)


class _CountingSocket:
    """A real socket whose reads are counted."""

    def __init__(self, sock: socket.socket):
        self.sock, self.reads = sock, 0

    def recv_into(self, view) -> int:
        self.reads += 1
        return self.sock.recv_into(view)


def test_a_reader_takes_a_frame_of_the_expected_size_in_one_read():
    a, b = socket.socketpair()
    with a, b:
        counted = _CountingSocket(b)
        reader = transport.FrameReader(counted, watchdog.guard(b))
        reads = []
        for i in range(3):
            transport.send_frame(a, Frame("INFER", {"stream": 1}, {"payload": bytes([i]) * 4096}))
            before = counted.reads
            frame = reader.read(timeout_s=1)
            reads.append(counted.reads - before)
            assert frame.payload == bytes([i]) * 4096
        assert reads == [2, 1, 1]  # prefix then rest; then the whole frame at once


def test_a_reader_keeps_what_it_read_past_a_frame_for_the_next():
    frames = [Frame("ECHO", {"n": 1}, {"payload": b"x" * 4096}), Frame("PING", {"n": 2}),
              Frame("ECHO", {"n": 3}, {"payload": b"y" * 300_000}), Frame("PING", {"n": 4}),
              Frame("ECHO", {"n": 5}, {"payload": b"z" * 4096})]
    a, b = socket.socketpair()
    with a, b:
        reader = transport.FrameReader(b)
        transport.send_frame(a, frames[0])
        assert reader.read(timeout_s=1).meta == {"n": 1}  # it now expects frames of about 4 KB
        sender = threading.Thread(target=lambda: [transport.send_frame(a, f) for f in frames[1:]])
        sender.start()  # sent without waiting: a read takes the start of the next frame too
        got = [reader.read(timeout_s=5) for _ in frames[1:]]
        sender.join()
        a.close()
        assert [f.meta["n"] for f in got] == [2, 3, 4, 5]
        assert got[1].payload == b"y" * 300_000 and got[3].payload == b"z" * 4096
        assert reader.read(timeout_s=1) is None  # closed cleanly between frames


def test_a_reader_reports_a_frame_cut_short_after_what_it_kept():
    a, b = socket.socketpair()
    with a, b:
        reader = transport.FrameReader(b)
        transport.send_frame(a, Frame("ECHO", {}, {"payload": b"x" * 4096}))
        reader.read(timeout_s=1)
        whole = b"".join(bytes(x) for x in wire.encode(Frame("ECHO", {}, {"payload": b"y" * 4096})))
        a.sendall(bytes(b"".join(bytes(x) for x in wire.encode(Frame("PING")))) + whole[:100])
        a.close()
        assert reader.read(timeout_s=1).type == "PING"
        with pytest.raises(wire.WireError, match="closed mid-frame"):
            reader.read(timeout_s=1)
