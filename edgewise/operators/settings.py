"""Operator settings written inside a chain: `prune[ratio=0.3]`, `sptq[calibration=entropy]`.

A link of a chain is an operator name with optional settings in brackets; the settings override
the study's `operators:` section for that link only. The link's text is its readable name, so
three prune ratios are three chains that plan, cache, measure and report apart.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from edgewise.errors import PlanError

_LINK = re.compile(r"^(?P<name>[A-Za-z0-9_\-]+)(?:\[(?P<settings>[^\[\]]*)\])?$")
Settings = tuple[tuple[str, Any], ...]


def split_links(text: str) -> list[str]:
    """Split a chain's text on '+' outside brackets (a setting's value may hold anything else)."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "+" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_link(text: str, chain_text: str) -> tuple[str, Settings]:
    """`prune[ratio=0.3]` -> ("prune", (("ratio", 0.3),)); values are read as YAML scalars."""
    m = _LINK.match(text.strip())
    if not m:
        raise PlanError(f"chain {chain_text!r}: {text!r} is not OPERATOR or OPERATOR[key=value,...]",
                        "e.g. prune[ratio=0.3] or sptq[calibration=entropy]")
    name = m["name"].lower()
    settings: list[tuple[str, Any]] = []
    if m["settings"] is not None:
        for item in filter(None, (s.strip() for s in m["settings"].split(","))):
            key, sep, raw = item.partition("=")
            if not sep or not key.strip() or not raw.strip():
                raise PlanError(f"chain {chain_text!r}: setting {item!r} of {name} is not key=value",
                                f"write {name}[key=value], e.g. prune[ratio=0.3]")
            settings.append((key.strip(), _scalar(raw.strip())))
        if not settings:
            raise PlanError(f"chain {chain_text!r}: empty brackets after {name}",
                            f"drop the brackets or name a setting, e.g. {name}[key=value]")
        keys = [k for k, _ in settings]
        if len(set(keys)) != len(keys):
            raise PlanError(f"chain {chain_text!r}: a setting of {name} is given twice", "give each key once")
    return name, tuple(settings)


def format_link(name: str, settings: Settings) -> str:
    if not settings:
        return name
    return f"{name}[{','.join(f'{k}={_text(v)}' for k, v in settings)}]"


def _scalar(raw: str) -> Any:
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    return value if isinstance(value, (str, int, float, bool)) else raw


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
