"""One SQLite file per study: every write is a transaction, so a killed run resumes exactly.

Latency samples are keyed by (cell, pass, input): storing one twice is impossible, and a resumed
run measures only what is missing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from edgewise.errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS study (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL, fingerprint TEXT NOT NULL, config TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS environment (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    name TEXT PRIMARY KEY, subject TEXT NOT NULL, chain TEXT NOT NULL, placement TEXT NOT NULL,
    position INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'planned', error TEXT, artifact TEXT
);
CREATE TABLE IF NOT EXISTS artifacts (
    key TEXT PRIMARY KEY, subject TEXT NOT NULL, chain TEXT NOT NULL, size_bytes INTEGER NOT NULL,
    parts INTEGER NOT NULL, meta TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS accuracy (
    artifact TEXT PRIMARY KEY, metrics TEXT NOT NULL, correct BLOB, samples INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS latency (
    cell TEXT NOT NULL, pass INTEGER NOT NULL, input INTEGER NOT NULL, warmup INTEGER NOT NULL,
    latency_s REAL NOT NULL, breakdown TEXT NOT NULL, ts REAL NOT NULL,
    PRIMARY KEY (cell, pass, input)
);
CREATE TABLE IF NOT EXISTS emulation (id INTEGER PRIMARY KEY CHECK (id = 1), report TEXT NOT NULL, ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS condition_emulation (
    condition TEXT PRIMARY KEY, report TEXT NOT NULL, ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, cell TEXT, kind TEXT NOT NULL, message TEXT NOT NULL
);
"""


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we open every transaction ourselves (BEGIN IMMEDIATE ... COMMIT).
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._add_dimension_columns()

    def _add_dimension_columns(self) -> None:
        """cells.condition ('' for a study without conditions) and cells.runtime ('' for ONNX Runtime as it is),
        added to stores written before they existed."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(cells)")}
        for column in ("condition", "runtime"):
            if column not in columns:
                self.db.execute(f"ALTER TABLE cells ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- study --------------------------------------------------------------------------
    def claim(self, name: str, fingerprint: str, config: dict[str, Any]) -> bool:
        """Record the study, or check that the stored one is the same. True when resuming."""
        row = self.db.execute("SELECT fingerprint, name FROM study WHERE id = 1").fetchone()
        if row is None:
            with self.transaction() as db:
                db.execute("INSERT INTO study VALUES (1, ?, ?, ?, ?)", (name, fingerprint, json.dumps(config), time.time()))
            return False
        if row[0] != fingerprint:
            raise ConfigError(
                f"{self.path} holds a different study ({row[1]!r}, other settings)",
                "use another --out directory, or --fresh to start this one over",
            )
        return True

    def study_config(self) -> dict[str, Any]:
        """The study file as this store's study was claimed with (what `edgewise export` ships)."""
        row = self.db.execute("SELECT config FROM study WHERE id = 1").fetchone()
        return json.loads(row[0]) if row else {}

    def set_environment(self, env: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO environment VALUES (?, ?)", [(k, json.dumps(v)) for k, v in env.items()])

    def environment(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM environment")}

    # --- cells and artifacts ------------------------------------------------------------
    def add_cells(self, cells: list[dict[str, str]]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO cells (name, subject, chain, placement, position, condition, runtime) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(c["cell"], c["subject"], c["chain"], c["placement"], i, c.get("condition", ""), c.get("runtime", ""))
                 for i, c in enumerate(cells)],
            )

    def set_cell(self, name: str, status: str, error: str | None = None, artifact: str | None = None) -> None:
        with self.transaction() as db:
            if artifact is None:
                db.execute("UPDATE cells SET status = ?, error = ? WHERE name = ?", (status, error, name))
            else:
                db.execute("UPDATE cells SET status = ?, error = ?, artifact = ? WHERE name = ?", (status, error, artifact, name))

    def rebind_cell(self, name: str, artifact: str) -> None:
        """Point a cell at a new artifact, dropping the latency samples measured on the old one."""
        with self.transaction() as db:
            db.execute("DELETE FROM latency WHERE cell = ?", (name,))
            db.execute("UPDATE cells SET status = 'built', error = NULL, artifact = ? WHERE name = ?", (artifact, name))

    def cells(self) -> list[dict[str, Any]]:
        cur = self.db.execute(
            "SELECT name, subject, chain, placement, status, error, artifact, condition, runtime FROM cells "
            "ORDER BY position")
        keys = ("cell", "subject", "chain", "placement", "status", "error", "artifact", "condition", "runtime")
        return [dict(zip(keys, row)) for row in cur]

    def add_artifact(self, key: str, subject: str, chain: str, size_bytes: int, parts: int, meta: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?, ?, ?)",
                       (key, subject, chain, size_bytes, parts, json.dumps(meta, default=str)))

    def artifact(self, key: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT key, size_bytes, parts, meta FROM artifacts WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return {"key": row[0], "size_bytes": row[1], "parts": row[2], "meta": json.loads(row[3])}

    # --- accuracy -----------------------------------------------------------------------
    def add_accuracy(self, artifact: str, metrics: dict[str, float], correct: np.ndarray | None) -> None:
        blob = None if correct is None else np.packbits(correct.astype(bool)).tobytes()
        n = 0 if correct is None else int(len(correct))
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO accuracy VALUES (?, ?, ?, ?)", (artifact, json.dumps(metrics), blob, n))

    def accuracy(self, artifact: str) -> tuple[dict[str, float], np.ndarray | None] | None:
        row = self.db.execute("SELECT metrics, correct, samples FROM accuracy WHERE artifact = ?", (artifact,)).fetchone()
        if row is None:
            return None
        correct = None if row[1] is None else np.unpackbits(np.frombuffer(row[1], np.uint8))[: row[2]].astype(bool)
        return json.loads(row[0]), correct

    # --- latency ------------------------------------------------------------------------
    def add_sample(self, cell: str, pass_: int, input_: int, warmup: bool, latency_s: float,
                   breakdown: dict[str, float]) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO latency VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (cell, pass_, input_, int(warmup), latency_s, json.dumps(breakdown), time.time()))

    def done_inputs(self, cell: str, pass_: int) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT input FROM latency WHERE cell = ? AND pass = ?", (cell, pass_))}

    def sample_count(self, cell: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM latency WHERE cell = ?", (cell,)).fetchone()[0]

    def samples(self, cell: str) -> list[tuple[int, int, bool, float, dict[str, float]]]:
        cur = self.db.execute(
            "SELECT pass, input, warmup, latency_s, breakdown FROM latency WHERE cell = ? ORDER BY pass, input", (cell,))
        return [(p, i, bool(w), lat, json.loads(b)) for p, i, w, lat, b in cur]

    # --- emulation and events -----------------------------------------------------------
    def set_emulation(self, report: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO emulation VALUES (1, ?, ?)", (json.dumps(report, default=str), time.time()))

    def emulation(self) -> dict[str, Any] | None:
        row = self.db.execute("SELECT report FROM emulation WHERE id = 1").fetchone()
        return json.loads(row[0]) if row else None

    def set_condition_emulation(self, condition: str, report: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO condition_emulation VALUES (?, ?, ?)",
                       (condition, json.dumps(report, default=str), time.time()))

    def condition_emulation(self) -> dict[str, dict[str, Any]]:
        """The verified links of every network condition measured so far, by condition name."""
        return {c: json.loads(r) for c, r in self.db.execute("SELECT condition, report FROM condition_emulation")}

    def event(self, kind: str, message: str, cell: str | None = None) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO events (ts, cell, kind, message) VALUES (?, ?, ?, ?)", (time.time(), cell, kind, message))

    def events(self) -> list[dict[str, Any]]:
        cur = self.db.execute("SELECT ts, cell, kind, message FROM events ORDER BY id")
        return [dict(zip(("ts", "cell", "kind", "message"), r)) for r in cur]
