"""One hop's fixed cost: edgewise's round trip to a tier server (role full, a tiny model) against
a bare TCP round trip of the same payload (benchmarks/bare_socket.py) and in-process compute,
interleaved in rounds of 100 requests, medians of 7 rounds; with the client's breakdown of the
edgewise request. To compare two trees, run it with PYTHONPATH set to each in turn.

Where the tree has the host's speed probe (tiers/hostspeed.py), a second tier serves the same model as
a study's tiers do, following the probe's board at speed 1 while the probe process runs beside it
("paced"): its overhead less the plain tier's is what the probe and the pacing cost a request.

Usage: python benchmarks/bench_hop.py [BYTES]   (prints one JSON line)
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bare_socket import BareClient
from bench_transport import tensor_spec, write_model

ROUNDS, REQUESTS = 7, 100


def main(nbytes: int) -> dict:
    from edgewise.testbeds.processes import TierProcess
    from edgewise.tiers.client import TierClient
    from edgewise.tiers.sessions import make_session
    from edgewise.tiers.spec import Placement, route_for

    floats = nbytes // 4
    x = np.random.default_rng(0).standard_normal((1, floats)).astype(np.float32)
    payload = x.tobytes()
    route = route_for(Placement.parse("mobile"))
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "m.onnx"
        write_model(model, floats)
        tier = TierProcess("mobile", "127.0.0.1:0", Path(tmp) / "mobile.log")
        address = tier.start()
        paced = _paced_tier(Path(tmp))
        bare = BareClient()
        session = make_session(model)
        parts: dict[str, list[float]] = {}
        try:
            with TierClient({"mobile": address}) as client, \
                    TierClient({"mobile": paced[0].address if paced else address}) as paced_client:
                client.load("mobile", "m", model, "full", tensor_spec(floats))
                paced_client.load("mobile", "m", model, "full", tensor_spec(floats))

                def edgewise() -> None:
                    for k, v in client.infer(route, "m", payload).breakdown.items():
                        parts.setdefault(k, []).append(v)

                variants = {"bare": lambda: bare.roundtrip(payload), "edgewise": edgewise,
                            "compute": lambda: session.run(None, {"input": x})}
                if paced:
                    variants["paced"] = lambda: paced_client.infer(route, "m", payload)
                for fn in variants.values():
                    for _ in range(50):
                        fn()
                medians: dict[str, list[float]] = {k: [] for k in variants}
                for _ in range(ROUNDS):
                    for name, fn in variants.items():
                        times = []
                        for _ in range(REQUESTS):
                            t0 = time.perf_counter()
                            fn()
                            times.append(time.perf_counter() - t0)
                        medians[name].append(statistics.median(times))
        finally:
            tier.kill()
            for proc in paced or ():
                proc.kill()
            bare.close()
    us = {k: statistics.median(v) * 1e6 for k, v in medians.items()}
    overhead = us["edgewise"] - us["compute"]
    out = {"bytes": nbytes, "bare_us": us["bare"], "edgewise_us": us["edgewise"], "compute_us": us["compute"],
           "overhead_us": overhead, "overhead_to_bare": overhead / us["bare"],
           "breakdown_us": {k: round(statistics.median(v) * 1e6, 1) for k, v in parts.items()}}
    if "paced" in us:
        out.update({"paced_us": us["paced"], "pacing_cost_us": us["paced"] - us["edgewise"]})
    return out


def _paced_tier(tmp: Path):
    """A tier at speed 1 following a live probe's board, as a study's tiers run (None on a tree without one)."""
    try:
        from edgewise.testbeds.nominal import machine_nominal
        from edgewise.testbeds.processes import ProbeProcess, TierProcess
        from edgewise.tiers.hostspeed import Board
    except ImportError:
        return None
    board = Board.create(tmp / "board")
    probe = ProbeProcess(board, machine_nominal().probe_s, tmp / "probe.log")
    probe.spawn()
    tier = TierProcess("mobile", "127.0.0.1:0", tmp / "paced.log", host_board=str(board))
    tier.start()
    return tier, probe


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 4096)))
