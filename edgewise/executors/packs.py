"""Cache entries as bytes, for workers that do not share the study's cache directory.

A pack maps paths relative to a cache root (`artifacts/<key>/model.onnx`, `teachers/<name>-<key>.pt`)
to their bytes. A worker returns the pack of what it built; the driver (or the next worker)
installs it into its own cache the way a local build writes it: an artifact directory appears in
one rename, a teacher's record only after its module.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

Pack = dict[str, bytes]


def pack_artifact(cache_root: Path, key: str) -> Pack:
    """Every file of the artifact `key` (its manifest included) under `cache_root/artifacts`."""
    folder = cache_root.resolve() / "artifacts" / key
    return {str(p.relative_to(cache_root.resolve())): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def pack_teacher(cache_root: Path, teacher_pt: Path) -> Pack:
    """A trained teacher's module and record (`subjects.teachers.teacher_path`)."""
    files = [teacher_pt.resolve(), teacher_pt.resolve().with_suffix(".json")]
    return {str(p.relative_to(cache_root.resolve())): p.read_bytes() for p in files if p.is_file()}


def install(cache_root: Path, pack: Pack) -> None:
    """Write `pack` under `cache_root`, skipping what is already there; atomic per artifact and per file."""
    artifacts: dict[str, dict[str, bytes]] = {}
    others: dict[str, bytes] = {}
    for rel, data in pack.items():
        parts = Path(rel).parts
        if len(parts) >= 3 and parts[0] == "artifacts":
            artifacts.setdefault(parts[1], {})[str(Path(*parts[2:]))] = data
        else:
            others[rel] = data
    for key, files in artifacts.items():
        _install_artifact(cache_root / "artifacts", key, files)
    # A teacher's record says it is trained: write it after the module (sorted: .json after .pt).
    for rel in sorted(others, key=lambda r: r.endswith(".json")):
        target = cache_root / rel
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(others[rel])
        os.replace(tmp, target)


def _install_artifact(root: Path, key: str, files: dict[str, bytes]) -> None:
    final = root / key
    if final.exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    # Named like ArtifactCache's staging folders, so a driver killed here leaves nothing it trusts.
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-", dir=root))
    try:
        for rel, data in files.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_bytes(data)
        if final.exists():
            shutil.rmtree(staging, ignore_errors=True)
        else:
            os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
