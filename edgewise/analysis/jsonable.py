"""JSON for the command line's --json: the analyses' dictionaries with NaN and infinity as null."""

from __future__ import annotations

import json
import math


def _finite(value):
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def to_json(data: dict) -> str:
    return json.dumps(_finite(data), indent=1)
