"""Tier servers with real ONNX Runtime sessions, reached over real loopback sockets."""

import socket
import threading
import time

import numpy as np
import pytest

from edgewise.errors import ConfigError, ServerError
from edgewise.runtimes.runner import ArtifactRunner
from edgewise.tiers import transport, wire
from edgewise.tiers.client import TierClient, TierDown
from edgewise.tiers.server import ServerConfig, TierServer
from edgewise.tiers.spec import Placement, route_for
from edgewise.tiers.wire import Frame


def _client(servers, **kw) -> TierClient:
    return TierClient({t: s.address for t, s in servers.items()}, **kw)


def _expected(onnx_path, preprocess, payload):
    return ArtifactRunner([onnx_path])(preprocess(payload))


def test_full_on_cloud_relayed_by_mobile_and_edge(servers, tiny_cnn, cnn_artifact):
    from edgewise.data.preprocess import build_preprocessor

    payload = tiny_cnn.latency_inputs(1)[0]
    with _client(servers) as client:
        client.load("cloud", "cnn", cnn_artifact.onnx, "full", tiny_cnn.preprocessing())
        result = client.infer(route_for(Placement.parse("cloud")), "cnn", payload)
    expected = _expected(cnn_artifact.onnx, build_preprocessor(tiny_cnn.preprocessing()), payload)
    np.testing.assert_allclose(result.logits, expected, rtol=1e-5, atol=1e-6)
    keys = set(result.breakdown)
    assert {"client_encode", "link:client-mobile", "link:mobile-edge", "link:edge-cloud",
            "preprocess:cloud", "compute:cloud", "decode"} <= keys
    assert "compute:mobile" not in keys  # mobile only relays
    assert all(v >= -1e-3 for v in result.breakdown.values())
    assert sum(result.breakdown.values()) == pytest.approx(result.total_s, abs=2e-3)


def test_head_on_mobile_tail_on_edge_matches_the_whole_model(servers, tiny_cnn, cnn_artifact, cnn_split):
    from edgewise.data.preprocess import build_preprocessor

    head, tail, _ = cnn_split
    payloads = tiny_cnn.latency_inputs(3)
    with _client(servers) as client:
        client.load("mobile", "split", head, "head", tiny_cnn.preprocessing())
        client.load("edge", "split", tail, "tail", None)
        results = [client.infer(route_for(Placement.parse("mobile-edge")), "split", p) for p in payloads]
    pre = build_preprocessor(tiny_cnn.preprocessing())
    for p, r in zip(payloads, results):
        np.testing.assert_allclose(r.logits, _expected(cnn_artifact.onnx, pre, p), rtol=1e-4, atol=1e-5)
        assert r.breakdown["compute:mobile"] > 0 and r.breakdown["compute:edge"] > 0
        assert "link:mobile-edge" in r.breakdown and "link:edge-cloud" not in r.breakdown


def test_text_subject_full_on_mobile(servers, tiny_bert, cache_dir):
    from edgewise.building.artifacts import ArtifactCache
    from edgewise.data.preprocess import build_preprocessor
    from edgewise.operators.chain import root_artifact

    art = root_artifact(tiny_bert, ArtifactCache(cache_dir / "artifacts"), log=lambda m: None)
    payload = tiny_bert.latency_inputs(1)[0]
    with _client(servers) as client:
        client.load("mobile", "bert", art.onnx, "full", tiny_bert.preprocessing())
        result = client.infer(route_for(Placement.parse("mobile")), "bert", payload)
    expected = _expected(art.onnx, build_preprocessor(tiny_bert.preprocessing()), payload)
    np.testing.assert_allclose(result.logits, expected, rtol=1e-4, atol=1e-5)


def test_cold_start_builds_a_session_per_request(servers, tiny_cnn, cnn_artifact):
    payload = tiny_cnn.latency_inputs(1)[0]
    with _client(servers) as client:
        client.load("mobile", "warm", cnn_artifact.onnx, "full", tiny_cnn.preprocessing())
        client.load("mobile", "cold", cnn_artifact.onnx, "full", tiny_cnn.preprocessing(), cold_start=True)
        route = route_for(Placement.parse("mobile"))
        warm = min(client.infer(route, "warm", payload).breakdown["compute:mobile"] for _ in range(5))
        cold = [client.infer(route, "cold", payload) for _ in range(3)]
    assert servers["mobile"].artifacts["cold/full"].session is None
    np.testing.assert_allclose(cold[0].logits, cold[1].logits)
    assert min(r.breakdown["compute:mobile"] for r in cold) > 2 * warm


def test_loaded_model_can_be_shipped_as_bytes_and_unloaded(servers, tiny_cnn, cnn_artifact):
    payload = tiny_cnn.latency_inputs(1)[0]
    with _client(servers, ship_models=True) as client:
        client.load("edge", "shipped", cnn_artifact.onnx, "full", tiny_cnn.preprocessing())
        client.infer(route_for(Placement.parse("edge")), "shipped", payload)
        client.unload("edge", "shipped")
        with pytest.raises(ServerError, match="holds no artifact"):
            client.infer(route_for(Placement.parse("edge")), "shipped", payload)


def test_a_stopped_server_leaves_no_received_model_behind(tiny_cnn, cnn_artifact, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    server = TierServer(ServerConfig(tier="edge", read_timeout_s=1.0)).start()
    try:
        with TierClient({"edge": server.address}, ship_models=True) as client:
            client.load("edge", "shipped", cnn_artifact.onnx, "full", tiny_cnn.preprocessing())
        received = list(tmp_path.glob("edgewise-edge-*/*.onnx"))
        assert len(received) == 1 and received[0].stat().st_size == cnn_artifact.onnx.stat().st_size
    finally:
        server.stop()
    assert list(tmp_path.iterdir()) == []


# --- validation: every bad request gets an error and the server keeps answering ---------------

def _raw(server: TierServer) -> socket.socket:
    host, port = server.address.split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _alive(server: TierServer) -> None:
    with TierClient({"x": server.address}) as client:
        assert client.ping("x")["tier"] == server.config.tier


def test_bad_dtype_and_shape_are_refused(servers, cnn_artifact):
    with _client(servers) as client:
        client.load("mobile", "t", cnn_artifact.onnx, "full", None)  # no preprocessing: tensors expected
        pool = client._data["mobile"]
        route = {"route": [["mobile", "full"]], "links": [["client", "mobile"]], "hop": 0, "artifact": "t"}
        for bad, match in ((np.zeros((1, 1, 16, 16), np.float64), "float64"),
                           (np.zeros((1, 3, 16, 16), np.float32), "shape"),
                           (np.zeros((1, 16, 16), np.float32), "shape")):
            reply = pool.exchange(Frame("INFER", dict(route), {"pixel_values": bad}))
            assert reply.type == "ERROR" and match in reply.meta["message"]
        good = pool.exchange(Frame("INFER", dict(route), {"pixel_values": np.zeros((2, 1, 16, 16), np.float32)}))
        assert good.type == "RESULT" and good.blobs["logits"].shape == (2, 4)


def test_garbage_image_is_a_clear_error(servers, tiny_cnn, cnn_artifact):
    with _client(servers) as client:
        client.load("mobile", "img", cnn_artifact.onnx, "full", tiny_cnn.preprocessing())
        with pytest.raises(ServerError, match="cannot decode image"):
            client.infer(route_for(Placement.parse("mobile")), "img", b"not an image at all")
        assert client.infer(route_for(Placement.parse("mobile")), "img", tiny_cnn.latency_inputs(1)[0]).logits.shape == (1, 4)


def test_truncated_garbage_oversized_and_slow_frames_close_the_connection(servers):
    server = servers["mobile"]
    frame = wire.encode(Frame("PING"))[0]
    cases = {
        "truncated": frame[:-3],
        "garbage": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "oversized": wire.PREFIX.pack(wire.MAGIC, wire.VERSION, 0, 10, 2**40),
    }
    for name, data in cases.items():
        with _raw(server) as sock:
            sock.sendall(data)
            if name == "truncated":
                time.sleep(1.3)  # past the server's 1 s read timeout
            reply = transport.read_frame(sock, timeout_s=5)
            assert reply is not None and reply.type == "ERROR", name
            assert _closed(sock), f"{name}: connection left open"
    _alive(server)


def test_slowloris_is_cut_off(servers):
    server = servers["edge"]
    data = wire.encode(Frame("PING"))[0]
    with _raw(server) as sock:
        t0 = time.monotonic()
        try:
            for byte in data:
                sock.sendall(bytes([byte]))
                time.sleep(0.2)
        except OSError:
            pass  # the server closed on us: what a slowloris deserves
        assert time.monotonic() - t0 < 3 + 1.5
        sock.settimeout(3)
        reply = transport.read_frame(sock, timeout_s=3)
        assert reply is not None and reply.type == "ERROR" and "too slowly" in reply.meta["message"]
    _alive(server)


def test_token_required_off_loopback():
    with pytest.raises(ConfigError, match="needs a token"):
        TierServer(ServerConfig(tier="mobile", listen="0.0.0.0:0"))
    server = TierServer(ServerConfig(tier="mobile", listen="0.0.0.0:0", token="s3cret")).start()
    try:
        address = "127.0.0.1:" + server.address.split(":")[1]
        with TierClient({"mobile": address}) as anonymous, pytest.raises(ServerError, match="token"):
            anonymous.ping("mobile")
        with TierClient({"mobile": address}, token="wrong") as wrong, pytest.raises(ServerError, match="token"):
            wrong.ping("mobile")
        with TierClient({"mobile": address}, token="s3cret") as good:
            assert good.ping("mobile")["tier"] == "mobile"
    finally:
        server.stop()


def test_sixteen_concurrent_clients(servers, tiny_cnn, cnn_artifact):
    payload = tiny_cnn.latency_inputs(1)[0]
    with _client(servers) as loader:
        loader.load("edge", "many", cnn_artifact.onnx, "full", tiny_cnn.preprocessing())
    results, errors = [], []

    def worker() -> None:
        try:
            with _client(servers) as client:
                for _ in range(5):
                    results.append(client.infer(route_for(Placement.parse("edge")), "many", payload).logits)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 80
    assert all(np.allclose(r, results[0]) for r in results)


def test_dead_next_hop_is_reported_as_tier_down(servers, tiny_cnn, cnn_artifact):
    with _client(servers) as client:
        client.load("cloud", "gone", cnn_artifact.onnx, "full", tiny_cnn.preprocessing())
        servers["cloud"].stop()
        with pytest.raises(TierDown) as info:
            client.infer(route_for(Placement.parse("cloud")), "gone", tiny_cnn.latency_inputs(1)[0])
    assert info.value.tier == "cloud"


def test_a_reloaded_artifact_serves_the_same_stream_at_once(servers, tmp_path):
    """The server remembers what a stream's header asks for; a LOAD under the same id voids that."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def model(path, scale):
        weight = numpy_helper.from_array(np.eye(4, dtype=np.float32) * scale, "w")
        graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["logits"])], "scaled",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                                  [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4])], [weight])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
        return path

    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    route = route_for(Placement.parse("edge"))
    with _client(servers) as client:
        client.load("edge", "m", model(tmp_path / "one.onnx", 1.0), "full", None)
        np.testing.assert_allclose(client.infer(route, "m", {"x": x}).logits, x)
        client.load("edge", "m", model(tmp_path / "three.onnx", 3.0), "full", None)
        np.testing.assert_allclose(client.infer(route, "m", {"x": x}).logits, 3 * x)
