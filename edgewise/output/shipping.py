"""Shipping a measured cell: the model file(s) its runtime loads and a provenance record, from a study's output.

Each runtime ships its own form: ONNX Runtime the ONNX file(s), OpenVINO its IR (model.xml and
model.bin, converted from the measured ONNX graph with its weights' precision kept), ExecuTorch the
.pte program that was measured.

The provenance says where the model came from (chain, operator parameters, artifact key,
edgewise version), how good and how fast it measured (accuracy, latency percentiles with their
bootstrap CIs) and what the serving tier ran before it (the preprocessing spec, with its
tokenizer copied beside the model), so the deployed model is the one that was measured.
"""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from edgewise import __version__
from edgewise.analysis.bootstrap import interval, median_rows, percentile_rows, replicates, seed_for
from edgewise.analysis.results import RESULTS_FILE, read_results
from edgewise.building.artifacts import ArtifactCache
from edgewise.errors import ArtifactError, PlanError
from edgewise.operators.base import get_operator
from edgewise.output.store import Store
from edgewise.runtimes.choice import RuntimeChoice

FORMAT = "edgewise-export/1"


def export_cell(run_dir: Path, cell_name: str, out: Path, cache_dir: Path) -> list[Path]:
    """Write `cell_name`'s model part(s) and provenance.json into `out`; returns the files written."""
    results = read_results(run_dir / RESULTS_FILE)  # the folder: study.sqlite beside it holds the study file
    cell = _find_cell(results, cell_name, run_dir)
    artifact = _artifact(cell, cache_dir)
    out.mkdir(parents=True, exist_ok=True)
    study_config = _study_config(run_dir)
    choice = RuntimeChoice.parse(cell.get("runtime"))
    runtime = choice.make(study_config.get("runtimes") or {})
    names, written = _write_parts(artifact, choice.name, out)
    record = {
        "format": FORMAT, "edgewise_version": __version__, "cell": cell["cell"], "subject": cell["subject"],
        "placement": cell["placement"], "files": {"parts": list(names), "roles": ["head", "tail"] if artifact.is_split
                                                  else ["full"]},
        "runtime": {"name": choice.name, "settings": runtime.settings(), "form": runtime.form,
                    "version": runtime.version(), "io": artifact.meta.get("io")},
        "chain": list(artifact.chain) or ["identity"],
        "operators": _operator_params(artifact.chain, study_config.get("operators") or {}),
        "artifact": {"key": artifact.key, "size_bytes": artifact.size_bytes, "meta": artifact.meta},
        "accuracy": {"metric": cell.get("metric"), "values": cell.get("accuracy") or {}},
        "latency_ms": _latency(cell),
        "status": cell["status"],
        "preprocessing": _preprocessing(results, cell["subject"], out, written),
        "study": {"name": results["study"].get("name"), "profile": results["study"].get("profile"),
                  "seed": results["study"].get("seed"), "run_dir": str(run_dir)},
    }
    path = out / "provenance.json"
    path.write_text(json.dumps(record, indent=1, default=str))
    return [*written, path]


def _write_parts(artifact, runtime: str, out: Path) -> tuple[list[str], list[Path]]:
    """The files the cell's runtime loads, written into `out`: their names (one per part) and every file."""
    if runtime == "openvino":
        from edgewise.runtimes.openvino_runtime import OpenVino  # lazy: only an OpenVINO cell needs it

        stems = ("head", "tail") if artifact.is_split else ("model",)
        written = [f for part, stem in zip(artifact.parts, stems) for f in OpenVino.save_ir(part, out / f"{stem}.xml")]
        return [f"{stem}.xml" for stem in stems], written
    suffix = artifact.parts[0].suffix
    names = [f"head{suffix}", f"tail{suffix}"] if artifact.is_split else [f"model{suffix}"]
    for part, name in zip(artifact.parts, names):
        shutil.copyfile(part, out / name)
    return names, [out / n for n in names]


def _find_cell(results: dict[str, Any], name: str, run_dir: Path) -> dict[str, Any]:
    cells = {c["cell"]: c for c in results["cells"]}
    if name in cells:
        return cells[name]
    close = difflib.get_close_matches(name, list(cells), n=5, cutoff=0.5)
    listing = close or list(cells)[:8]
    raise PlanError(f"no cell {name!r} in {run_dir}", f"{'did you mean' if close else 'its cells include'}: "
                    + ", ".join(listing))


def _artifact(cell: dict[str, Any], cache_dir: Path):
    record = cell.get("artifact")
    if not record:
        reason = cell.get("error") or f"status {cell['status']}"
        raise ArtifactError(f"cell {cell['cell']} has no model to export: {reason}",
                            "fix the cause and run the study again, or export a cell that was built")
    root = Path(cache_dir) / "artifacts"
    found = ArtifactCache(root).get(record["key"]) if root.is_dir() else None
    if found is None:
        raise ArtifactError(f"artifact {record['key']} of {cell['cell']} is not in {root}",
                            "pass --cache the directory the run used, or run the study again to rebuild it")
    return found


def _study_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "study.sqlite"
    if not path.is_file():
        return {}
    store = Store(path)
    try:
        return store.study_config()
    finally:
        store.close()


def _operator_params(chain: tuple[str, ...], given: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each step's parameters in full: the study file's values over the operator's defaults."""
    return [{"name": name, "params": get_operator(name, given.get(name)).cache_params()} for name in chain]


def _latency(cell: dict[str, Any]) -> dict[str, Any]:
    """Median and p95 of the measured requests with their 95% bootstrap CIs (seeded by the cell name)."""
  

    samples = np.asarray(cell.get("latency_s") or [], float) * 1e3
    if not len(samples):
        return {"samples": 0}
    seed = seed_for(cell["cell"])
    med = interval(replicates(samples, median_rows, seed))
    p95 = interval(replicates(samples, percentile_rows(95), seed))
    return {"samples": int(len(samples)), "placement": cell["placement"],
            "median": float(np.median(samples)), "median_ci": [med.low, med.high],
            "p95": float(np.percentile(samples, 95)), "p95_ci": [p95.low, p95.high], "ci_level": med.level,
            "breakdown_median": {k: float(np.median(v)) * 1e3 for k, v in (cell.get("breakdown_s") or {}).items() if v}}


def _preprocessing(results: dict[str, Any], subject: str, out: Path, written: list[Path]) -> dict[str, Any] | None:
    """The spec the serving tier ran for `subject` (recorded by the run), its tokenizer copied beside the model."""
    specs = [json.loads(e["message"]) for e in results.get("events", []) if e["kind"] == "preprocessing"]
    spec = next((s["spec"] for s in reversed(specs) if s["subject"] == subject), None)
    if spec is None:
        return None
    spec = dict(spec)
    tokenizer = spec.get("tokenizer")
    if tokenizer and Path(tokenizer).is_file():
        shutil.copyfile(tokenizer, out / "tokenizer.json")
        written.append(out / "tokenizer.json")
        spec["tokenizer"] = "tokenizer.json"  # relative to provenance.json
    return spec
