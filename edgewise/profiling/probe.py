"""The process `serving_memory` starts: load the runtime, then one part, serve the inputs, print the peaks.

Run as `python -m edgewise.profiling.probe SPEC.json`; prints one JSON line with `baseline_rss_mb`
(after the runtime and preprocessing are loaded, before the model) and `peak_rss_mb`. It imports
only what a tier needs to serve, so the figures are not inflated by the study's own modules.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _peak_mb() -> float:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: Linux carries that across
    exec from the forked parent, so a probe started by a 1.6 GB study reported 1.6 GB for every model."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status: serving memory is measured on Linux only")


def main(spec_path: str) -> None:
    import numpy as np

    from edgewise.data.preprocess import build_preprocessor
    from edgewise.tiers.sessions import make_session

    spec = json.loads(Path(spec_path).read_text())
    if spec.get("payloads") is not None:
        preprocess = build_preprocessor(spec["preprocessing"])
        payloads = [Path(p).read_bytes() for p in spec["payloads"]]
        preprocess(payloads[0])  # the preprocessing's own first-use memory belongs to the baseline
        feeds = None
    else:
        preprocess, payloads = None, None
        feeds = [dict(np.load(p)) for p in spec["feeds"]]
    import onnxruntime  # noqa: F401  (the runtime's libraries belong to the baseline too)

    baseline = _peak_mb()
    session = make_session(spec["part"], int(spec["threads"]))
    names = [i.name for i in session.get_inputs()]
    for feed in (preprocess(p) for p in payloads) if preprocess is not None else feeds:  # one request at a time
        session.run(None, {n: feed[n] for n in names})
    print(json.dumps({"baseline_rss_mb": baseline, "peak_rss_mb": _peak_mb()}))


if __name__ == "__main__":
    main(sys.argv[1])
