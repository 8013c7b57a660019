"""The parts of a request's client-side latency, as its breakdown names them: the one home of the keys.

A breakdown maps `KIND:PLACE` (or a bare kind on the client) to seconds: `client_encode`, then per hop
`link:A-B` (the transfer), `preprocess:TIER` and `compute:TIER` (what the tier computed, held to its
device's speed), `queue:TIER` (waiting for the tier's compute), `overhead:TIER` (the hop's own cost),
and `decode` on the client. The client builds it from the reply's hop records (tiers/client.py).
"""

from __future__ import annotations

CLIENT_ENCODE, DECODE = "client_encode", "decode"
LINK, PREPROCESS, COMPUTE, QUEUE, OVERHEAD = "link", "preprocess", "compute", "queue", "overhead"
WORK = (PREPROCESS, COMPUTE)  # what a tier computes for a request, at its device's speed


def key(kind: str, place: str) -> str:
    return f"{kind}:{place}"


def link(src: str, dst: str) -> str:
    return key(LINK, f"{src}-{dst}")


def parse(name: str) -> tuple[str, str]:
    """'compute:edge' -> ('compute', 'edge'); 'decode' -> ('decode', '')."""
    kind, _, place = name.partition(":")
    return kind, place


def work_by_tier(breakdown: dict[str, float]) -> dict[str, float]:
    """Seconds each tier computed for the request (preprocessing and compute)."""
    out: dict[str, float] = {}
    for name, seconds in breakdown.items():
        kind, tier = parse(name)
        if kind in WORK and tier:
            out[tier] = out.get(tier, 0.0) + seconds
    return out
