"""results.json: everything a study measured, machine-readable (its format: analysis.results).

Written from the store alone, so it can be regenerated at any time from DIR/study.sqlite.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from edgewise.analysis.load import LOAD_FORMAT
from edgewise.analysis.results import RESULTS_FORMAT
from edgewise.config import StudyConfig
from edgewise.errors import EdgewiseError
from edgewise.measure.drift import drift_summary
from edgewise.measure.latency import Protocol
from edgewise.measure.server import Server
from edgewise.operators.chain import Chain
from edgewise.output.store import Store
from edgewise.planning.conditions import Condition, study_conditions
from edgewise.profiling.stage import part_threads, profiled
from edgewise.runtimes.choice import RuntimeChoice, served_key
from edgewise.testbeds.kinds import testbed_class
from edgewise.testbeds.measured import measured_summary
from edgewise.tiers.spec import Placement
from edgewise.vocabulary import BUILT, FAILED, IMAGE_CLASSIFICATION, MEASURED, OK, PLANNED, TEXT_CLASSIFICATION


def results_dict(store: Store, config: StudyConfig, profile: str | None) -> dict[str, Any]:
    tb = config.testbed
    kind = testbed_class(tb.kind)
    emulation = store.emulation() or {}
    study = {
        "name": config.name, "profile": profile, "seed": config.seed, "source": config.source,
        "sla": config.sla.model_dump(), "measure": config.measure.model_dump(),
        "testbed": {
            "kind": tb.kind, "preset": tb.preset, "modelled": bool(emulation.get("modelled", kind.modelled)),
            "real_hosts": kind.real_hosts,
            "tiers": {n: {"cpus": t.cpus, "memory_mb": t.memory_mb, "threads": t.intra_op_threads, "speed": t.speed,
                          "labels": (emulation.get("labels") or {}).get(n, {})}
                      for n, t in tb.tier_specs().items()},
            "links": {f"{l.a}-{l.b}": {"bandwidth_mbit": l.bandwidth_mbit, "delay_ms": l.delay_ms}
                      for l in tb.link_specs()},
        },
    }
    if kind.real_hosts and emulation:  # the figures are what was measured, not what a preset says
        study["testbed"].update(measured_summary(emulation))
    tiers = tb.tier_specs()
    turn = _turn_of(config)
    cells = [_cell(store, row, tiers, turn) for row in store.cells()]
    _add_conditions(study, store, config)
    drift = drift_summary(store, {n: t.speed for n, t in tb.tier_specs().items()})
    if drift:
        study["drift"] = drift
    study["chains"] = _chain_facts({c["chain"] for c in cells})
    study["runtimes"] = _runtime_facts([c.get("runtime", "") for c in cells], config)
    return {"format": RESULTS_FORMAT, "study": study, "environment": store.environment(), "emulation": emulation,
            "events": store.events(), "cells": cells}


def _chain_facts(chains: set[str]) -> dict[str, dict[str, Any]]:
    """Each chain's kind, order, int8 and split, from its operators (a chain naming an operator that is no
    longer installed is left out: the report falls back to the names it knows)."""
    facts = {}
    for chain in sorted(chains):
        try:
            facts[chain] = Chain.parse(chain).facts()
        except KeyError:
            continue
    return facts


def _runtime_facts(runtimes: list[str], config: StudyConfig) -> dict[str, dict[str, Any]]:
    """Each runtime the cells name: its name, settings, form, version and report order."""
    facts = {}
    for text in dict.fromkeys(runtimes):
        choice = RuntimeChoice.parse(text)
        try:
            runtime = choice.make(config.runtimes)
        except EdgewiseError:  # a runtime no longer installed: the report falls back to the name
            facts[choice.label] = {"name": choice.name}
            continue
        facts[choice.label] = {"name": choice.name, "settings": runtime.settings(), "form": runtime.form,
                               "version": runtime.version(), "order": runtime.display_order,
                               "description": runtime.description}
    return facts


def _turn_of(config: StudyConfig) -> Callable[[int, int], int] | None:
    """Where a study's network conditions took turns: each sample's turn (measure/latency.py); else None."""
    conditions = len(study_conditions(config))
    if conditions <= 1:
        return None
    protocol = Protocol.of(config.measure)
    return lambda pass_, input_: protocol.turn_index(pass_, input_, conditions)


def _cell(store: Store, row: dict[str, Any], tiers: dict[str, Any],
          turn: Callable[[int, int], int] | None = None) -> dict[str, Any]:
    samples = store.samples(row["cell"])
    measured = [s for s in samples if not s[2]]
    warm = [s for s in samples if s[2]]
    keys = sorted({k for s in measured for k in s[4]})
    artifact = store.artifact(row["artifact"]) if row["artifact"] else None
    acc = store.accuracy(served_key(row["artifact"], row.get("runtime") or "")) if row["artifact"] else None
    metrics, correct = acc if acc else ({}, None)
    primary = next(iter(metrics), None)
    status = row["status"]
    if status in (BUILT, MEASURED, PLANNED) and row["artifact"]:
        status = OK if measured else FAILED
    return {
        "cell": row["cell"], "subject": row["subject"], "chain": row["chain"], "placement": row["placement"],
        **({"condition": row["condition"]} if row.get("condition") else {}),
        **({"runtime": row["runtime"]} if row.get("runtime") else {}),
        "status": status, "error": row["error"] if status != OK else None,
        "task": IMAGE_CLASSIFICATION if primary in ("top1", "top5") else (TEXT_CLASSIFICATION if primary else None),
        "metric": primary, "accuracy": metrics,
        "correct": None if correct is None else [int(c) for c in correct],
        "latency_s": [s[3] for s in measured],
        **({"turns": [turn(s[0], s[1]) for s in measured]} if turn and row.get("condition") else {}),
        "warmup_latency_s": [s[3] for s in warm],
        "breakdown_s": {k: [s[4].get(k, 0.0) for s in measured] for k in keys},
        "unheld_kept": store.unheld_kept(row["cell"]),
        "artifact": artifact,
        **_profile(store, row, artifact, tiers),
    }


def _profile(store: Store, row: dict[str, Any], artifact: dict[str, Any] | None,
             tiers: dict[str, Any]) -> dict[str, Any]:
    """The artifact's operator profile (host figures) and serving memory on the cell's tiers, when taken."""
    if artifact is None or not profiled(row.get("runtime") or ""):
        return {}
    threads = part_threads(artifact["parts"], Placement.parse(row["placement"]).tiers, tiers)
    found = store.profile(artifact["key"], threads)
    if found is None:
        return {}
    return {"profile": found["profile"], "memory": found["memory"],
            **({"profile_error": found["error"]} if found["error"] else {})}


def _add_conditions(study: dict[str, Any], store: Store, config: StudyConfig) -> None:
    """The study's network conditions with their verified figures (nothing for a study without conditions)."""
    verified = store.condition_emulation()
    names = [c.name for c in study_conditions(config)]
    names += [c["condition"] for c in store.cells() if c.get("condition") and c["condition"] not in names]
    if names:
        study["conditions"] = [{**Condition.parse(n).to_dict(), "verified": verified.get(n)}
                               for n in dict.fromkeys(names)]


def load_dict(store: Store, config: StudyConfig) -> dict[str, Any]:
    """load.json (the server scenario's answer), from the store: every cell with its search or why it has none."""
    sla, load = config.sla, config.measure.load
    records = store.load_records()
    cells = []
    for row in store.cells():
        cell = {"cell": row["cell"], "subject": row["subject"], "chain": row["chain"], "placement": row["placement"]}
        if row["cell"] in records:
            cells.append({**cell, "status": OK, **records[row["cell"]]})
        else:
            reason = row["error"] or ("not measured: run the study again to measure it" if row["artifact"]
                                      else "not built")
            cells.append({**cell, "status": FAILED, "error": reason})
    return {"format": LOAD_FORMAT,
            "study": {"name": config.name, "source": config.source, "sla": sla.model_dump(), "load": load.model_dump(),
                      "requests_per_step": Server(sla, load, config.seed).requests_per_step, "seed": config.seed},
            "cells": cells}


def write_load(store: Store, path: Path, config: StudyConfig) -> Path:
    return _write(path, load_dict(store, config))


def write_results(store: Store, path: Path, config: StudyConfig, profile: str | None) -> Path:
    return _write(path, results_dict(store, config, profile))


def _write(path: Path, data: dict[str, Any]) -> Path:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)
    return path
