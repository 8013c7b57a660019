"""The reference study's transport, re-created as the baseline edgewise's tier servers are compared with.

The reference (arXiv 2403.17154 / 2411.00907) served each tier with Flask over HTTP/1.1: the client
POSTs a JSON body holding the input base64-encoded, on a new connection per request (requests.post
without a session), and the server decodes it, creates a new ONNX Runtime InferenceSession for the
request, runs it and answers the logits as a JSON list.

Server: python benchmarks/reference_transport.py --model-dir DIR   (prints "ready HOST:PORT")
Client: ReferenceClient("127.0.0.1:PORT").infer(model_name, payload, shape)
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
from pathlib import Path

import numpy as np


def make_app(model_dir: Path):
    from flask import Flask, jsonify, request

    app = Flask("reference-tier")

    @app.post("/infer/<name>")
    def infer(name: str):
        import onnxruntime as ort

        body = request.get_json()
        data = np.frombuffer(base64.b64decode(body["data"]), np.float32).reshape(body["shape"])
        session = ort.InferenceSession(str(model_dir / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        logits = session.run(None, {session.get_inputs()[0].name: data})[0]
        return jsonify({"logits": logits.tolist()})

    return app


class ReferenceClient:
    """One POST per request on a fresh connection, as the reference's requests.post did."""

    def __init__(self, address: str, timeout_s: float = 60.0):
        host, _, port = address.rpartition(":")
        self.host, self.port, self.timeout_s = host, int(port), timeout_s

    def infer(self, name: str, payload: bytes, shape: list[int]) -> np.ndarray:
        body = json.dumps({"data": base64.b64encode(payload).decode("ascii"), "shape": shape})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        try:
            conn.request("POST", f"/infer/{name}", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            text = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"reference server answered {response.status}: {text[:200]!r}")
        return np.asarray(json.loads(text)["logits"], np.float32)


def main() -> None:
    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser(prog="reference-tier")
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # What Flask's app.run() starts (threaded development server), but on a port the OS picks.
    server = make_server(args.host, args.port, make_app(args.model_dir), threaded=True)
    print(f"ready {args.host}:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
