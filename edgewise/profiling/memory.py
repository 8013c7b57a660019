"""How much memory a tier needs to serve an artifact: peak RSS of a fresh process that serves it.

The figure does not depend on the study's measurement loop: for each part, a new Python process
loads ONNX Runtime and the part (on the tier's thread count), and serves a few latency inputs (the
first part preprocesses the raw payloads, as the serving tier does; a later part gets the previous
part's outputs); its peak resident set is what the tier needed. The process's RSS before the model
was loaded is kept beside it, so a reader can tell the runtime's own share from the model's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

PROBE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class PartMemory:
    """One part served on its tier."""

    model_mb: float  # the part's file
    baseline_rss_mb: float  # the process with its runtime and preprocessing loaded, before the model
    peak_rss_mb: float  # the process's peak while loading the part and serving the inputs
    threads: int

    def to_dict(self) -> dict[str, Any]:
        return {"model_mb": round(self.model_mb, 3), "baseline_rss_mb": round(self.baseline_rss_mb, 2),
                "peak_rss_mb": round(self.peak_rss_mb, 2), "threads": self.threads}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PartMemory":
        return cls(float(d["model_mb"]), float(d["baseline_rss_mb"]), float(d["peak_rss_mb"]), int(d["threads"]))


@dataclass(frozen=True)
class ServingMemory:
    """An artifact's parts, each as its tier serves it, in the order a request runs them."""

    parts: tuple[PartMemory, ...]
    inputs: int  # latency inputs each process served

    @property
    def peak_rss_mb(self) -> float:
        """The largest peak of any part: what the most loaded tier needs."""
        return max(p.peak_rss_mb for p in self.parts)

    @property
    def model_mb(self) -> float:
        """The largest part: what the most loaded tier stores."""
        return max(p.model_mb for p in self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {"parts": [p.to_dict() for p in self.parts], "inputs": self.inputs}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ServingMemory":
        return cls(tuple(PartMemory.from_dict(p) for p in d["parts"]), int(d.get("inputs", 0)))


def serving_memory(parts: Sequence[str | Path], payloads: Sequence[bytes], preprocessing: dict[str, Any],
                   threads: int | Sequence[int] = 1) -> ServingMemory:
    """Peak RSS of serving each part in a fresh process on `threads` intra-op threads (one count, or one
    per part). `payloads` are raw latency inputs, `preprocessing` the spec the first tier runs on them."""
    from edgewise.data.preprocess import build_preprocessor
    from edgewise.tiers.sessions import make_session

    if not parts or not payloads:
        raise ValueError("serving_memory needs at least one part and one payload")
    per_part = [int(threads)] * len(parts) if isinstance(threads, int) else [int(t) for t in threads]
    measured = []
    with tempfile.TemporaryDirectory(prefix="edgewise-memory-") as tmp:
        work = Path(tmp)
        payload_files = []
        for i, payload in enumerate(payloads):
            path = work / f"payload-{i}.bin"
            path.write_bytes(payload)
            payload_files.append(str(path))
        # A later part is fed what the parts before it give, computed here once.
        feeds = [build_preprocessor(preprocessing)(p) for p in payloads] if len(parts) > 1 else []
        for i, (part, t) in enumerate(zip(parts, per_part)):
            spec: dict[str, Any] = {"part": str(part), "threads": t}
            if i == 0:
                spec.update(payloads=payload_files, preprocessing=preprocessing)
            else:
                spec["feeds"] = []
                for k, feed in enumerate(feeds):
                    path = work / f"feed-{i}-{k}.npz"
                    np.savez(path, **feed)
                    spec["feeds"].append(str(path))
            figures = _probe(spec, work / f"spec-{i}.json")
            measured.append(PartMemory(Path(part).stat().st_size / 2**20, figures["baseline_rss_mb"],
                                       figures["peak_rss_mb"], t))
            if i + 1 < len(parts):
                session = make_session(part, t)
                feeds = [_outputs(session, feed) for feed in feeds]
    return ServingMemory(tuple(measured), len(payloads))


def _outputs(session, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [i.name for i in session.get_inputs()]
    outs = session.run(None, {n: feed[n] for n in names})
    return {**feed, **{o.name: v for o, v in zip(session.get_outputs(), outs)}}


def _probe(spec: dict[str, Any], spec_path: Path) -> dict[str, float]:
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"])}
    done = subprocess.run([sys.executable, "-m", "edgewise.profiling.probe", str(spec_path)], capture_output=True,
                          text=True, timeout=PROBE_TIMEOUT_S, env=env)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"the memory probe of {spec['part']} failed (exit {done.returncode}): {' | '.join(tail)}")
    return json.loads(done.stdout.strip().splitlines()[-1])
