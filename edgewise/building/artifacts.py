"""Artifacts: what an operator produces, and the content-hash cache that keeps them.

An artifact is one ONNX model, or the head and tail of a partition, plus metadata, and for
white-box results also the trained torch module so a later white-box step can continue from it.
Artifacts are written to a temporary directory and renamed into place (atomic), and every file's
hash is recorded and checked when loaded, so a crash never leaves a corrupt artifact that is
later trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgewise.environment import process_alive
from edgewise.errors import ArtifactError
from edgewise.vocabulary import FLOAT, ONNX

MANIFEST = "artifact.json"


@dataclass
class Artifact:
    subject: str
    chain: tuple[str, ...]
    parts: tuple[Path, ...]  # (model,) or (head, tail)
    torch_module: Path | None = None  # torch.save'd module, for white-box steps downstream
    capabilities: frozenset[str] = frozenset({ONNX, FLOAT})
    meta: dict[str, Any] = field(default_factory=dict)
    key: str = ""  # content hash (empty until cached)

    @property
    def is_split(self) -> bool:
        return len(self.parts) == 2

    @property
    def onnx(self) -> Path:
        if self.is_split:
            raise ArtifactError(f"artifact {self.key or self.chain} is partitioned", "use .parts for head and tail")
        return self.parts[0]

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.parts)

    def to_manifest(self, root: Path) -> dict[str, Any]:
        files = {p.name: file_sha256(p) for p in self.parts}
        if self.torch_module is not None:
            files[self.torch_module.name] = file_sha256(self.torch_module)
        return {
            "subject": self.subject,
            "chain": list(self.chain),
            "parts": [str(p.relative_to(root)) for p in self.parts],
            "torch_module": str(self.torch_module.relative_to(root)) if self.torch_module else None,
            "capabilities": sorted(self.capabilities),
            "meta": self.meta,
            "files": files,
            "key": self.key,
        }

    @classmethod
    def from_manifest(cls, root: Path, data: dict[str, Any]) -> "Artifact":
        return cls(
            subject=data["subject"],
            chain=tuple(data["chain"]),
            parts=tuple(root / p for p in data["parts"]),
            torch_module=root / data["torch_module"] if data.get("torch_module") else None,
            capabilities=frozenset(data["capabilities"]),
            meta=data.get("meta", {}),
            key=data.get("key", ""),
        )


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_checked: dict[tuple[Path, str], tuple[int, int]] = {}  # (file, digest) -> (size, mtime) when it last matched


def _intact(path: Path, digest: str) -> bool:
    """Whether `path` still has `digest`. A file that matched in this process and has the same size
    and modification time since is not hashed again (a study reads each artifact many times)."""
    stat = path.stat()
    seen = (stat.st_size, stat.st_mtime_ns)
    if _checked.get((path, digest)) == seen:
        return True
    if file_sha256(path) != digest:
        return False
    _checked[(path, digest)] = seen
    return True


def content_key(*parts: Any) -> str:
    """A stable hash of JSON-able parts (input key, operator, parameters, data, seed)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


class ArtifactCache:
    """Artifacts by content key under `root/<key>/`, written atomically, verified on load."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._sweep_orphans()

    def _sweep_orphans(self) -> None:
        """Remove staging folders whose builder died (killed mid-build); a live builder's are kept."""
        for d in self.root.glob(".staging-*"):
            pid = d.name.split("-")[1]
            if pid.isdigit() and not process_alive(int(pid)):
                shutil.rmtree(d, ignore_errors=True)

    def path(self, key: str) -> Path:
        return self.root / key

    def get(self, key: str) -> Artifact | None:
        d = self.path(key)
        manifest = d / MANIFEST
        if not manifest.is_file():
            return None
        try:
            data = json.loads(manifest.read_text())
            art = Artifact.from_manifest(d, data)
            for name, digest in data["files"].items():
                if not _intact(d / name, digest):
                    raise ValueError(f"hash mismatch on {name}")
        except (OSError, ValueError, KeyError) as exc:
            # A corrupt entry is never trusted: remove it so it is rebuilt.
            shutil.rmtree(d, ignore_errors=True)
            _warn(f"artifact {key} failed its integrity check ({exc}); it will be rebuilt")
            return None
        return art

    def staging(self) -> Path:
        """A fresh directory inside the cache (same filesystem) for an operator to write into."""
        return Path(tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-", dir=self.root))

    def commit(self, key: str, staging: Path, artifact: Artifact) -> Artifact:
        """Write the manifest and move `staging` to its final place in one rename."""
        artifact.key = key
        final = self.path(key)
        relocated = _relocate(artifact, staging, final)
        manifest = artifact.to_manifest(staging)
        (staging / (MANIFEST + ".tmp")).write_text(json.dumps(manifest, indent=1, default=str))
        os.replace(staging / (MANIFEST + ".tmp"), staging / MANIFEST)
        if final.exists():
            shutil.rmtree(staging, ignore_errors=True)  # built concurrently; keep the first
        else:
            os.replace(staging, final)
        return relocated


def _relocate(artifact: Artifact, old: Path, new: Path) -> Artifact:
    def move(p: Path | None) -> Path | None:
        return None if p is None else new / p.relative_to(old)

    return Artifact(
        subject=artifact.subject,
        chain=artifact.chain,
        parts=tuple(move(p) for p in artifact.parts),
        torch_module=move(artifact.torch_module),
        capabilities=artifact.capabilities,
        meta=artifact.meta,
        key=artifact.key,
    )
    return True


def _warn(msg: str) -> None:
    import logging

    logging.getLogger("edgewise").warning(msg)
