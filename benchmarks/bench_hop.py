"""One hop's fixed cost: edgewise's round trip to a tier server (role full, a tiny model) against
a bare TCP round trip of the same payload (benchmarks/bare_socket.py) and in-process compute,
interleaved in rounds of 100 requests, medians of 7 rounds; with the client's breakdown of the
edgewise request. To compare two trees, run it with PYTHONPATH set to each in turn.

Usage: python benchmarks/bench_hop.py [BYTES]   (prints one JSON line)
"""
import json, sys, time, tempfile, statistics as st
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).parent))
from bench_transport import write_model, tensor_spec
from edgewise.testbeds.processes import TierProcess
from edgewise.tiers.client import TierClient
from edgewise.tiers.spec import Placement, route_for
from edgewise.runtime import make_session
N = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
from bare_socket import BareClient

with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp); floats = N // 4
    write_model(tmp / "m.onnx", floats)
    tier = TierProcess("mobile", "127.0.0.1:0", tmp / "mobile.log"); address = tier.start()
    bare = BareClient(); rt = bare.roundtrip
    x = np.random.default_rng(0).standard_normal((1, floats)).astype(np.float32); payload = x.tobytes()
    sess = make_session(tmp / "m.onnx")
    route = route_for(Placement.parse("mobile"))
    try:
        with TierClient({"mobile": address}) as client:
            client.load("mobile", "m", tmp / "m.onnx", "full", tensor_spec(floats))
            for _ in range(50): client.infer(route, "m", payload); rt(payload)
            rows = {"bare": [], "ew": [], "compute": []}; parts = {}
            for r in range(7):
                for name, fn in (("bare", lambda: rt(payload)), ("ew", lambda: client.infer(route, "m", payload)),
                                 ("compute", lambda: sess.run(None, {"input": x}))):
                    ts = []
                    for _ in range(100):
                        t = time.perf_counter(); res = fn(); ts.append(time.perf_counter() - t)
                        if name == "ew":
                            for k, v in res.breakdown.items(): parts.setdefault(k, []).append(v)
                    rows[name].append(st.median(ts))
            med = {k: st.median(v) * 1e6 for k, v in rows.items()}
            print(json.dumps({"bytes": N, "bare_us": med["bare"], "edgewise_us": med["ew"], "compute_us": med["compute"],
                              "overhead_us": med["ew"] - med["compute"],
                              "overhead_to_bare": (med["ew"] - med["compute"]) / med["bare"],
                              "breakdown_us": {k: round(st.median(v) * 1e6, 1) for k, v in parts.items()}}))
    finally:
        tier.kill(); bare.close()
