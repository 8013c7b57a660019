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
CREATE TABLE IF NOT EXISTS artifact_profiles (
    artifact TEXT NOT NULL, threads TEXT NOT NULL, profile TEXT, memory TEXT, error TEXT, ts REAL NOT NULL,
    PRIMARY KEY (artifact, threads)
);
CREATE TABLE IF NOT EXISTS unheld (
    id INTEGER PRIMARY KEY AUTOINCREMENT, cell TEXT NOT NULL, pass INTEGER NOT NULL, input INTEGER NOT NULL,
    latency_s REAL NOT NULL, pacing TEXT NOT NULL, ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS nominal (id INTEGER PRIMARY KEY CHECK (id = 1), record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS load (cell TEXT PRIMARY KEY, record TEXT NOT NULL, ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, cell TEXT, kind TEXT NOT NULL, message TEXT NOT NULL
);
"""


def _json(pacing: dict[str, dict[str, float]]) -> str:
    """Pacing as JSON, NaN (a tier that follows no nominal speed has no host factor) as null."""
    return json.dumps({tier: {k: None if v != v else v for k, v in figures.items()} for tier, figures in pacing.items()})


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we open every transaction ourselves (BEGIN IMMEDIATE ... COMMIT).
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._add_columns()

    def _add_columns(self) -> None:
        """Columns added since the first stores were written: cells.condition ('' for a study without
        conditions), cells.runtime ('' for ONNX Runtime as it is), latency.pacing and latency.held (how each
        tier was paced: see add_sample)."""
        for table, column, declaration in (("cells", "condition", "TEXT NOT NULL DEFAULT ''"),
                                           ("cells", "runtime", "TEXT NOT NULL DEFAULT ''"),
                                           ("latency", "pacing", "TEXT NOT NULL DEFAULT '{}'"),
                                           ("latency", "held", "INTEGER NOT NULL DEFAULT 1")):
            if column not in {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

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

    def cell_status(self, name: str) -> str | None:
        row = self.db.execute("SELECT status FROM cells WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

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
                   breakdown: dict[str, float], pacing: dict[str, dict[str, float]] | None = None,
                   held: bool = True) -> None:
        """One request's figures. `pacing`: per computing tier, the host's factor against nominal and how
        long its steps ran past the device's time; `held` False: kept although the host was too slow for
        the device's speed (tiers/speed.py)."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO latency (cell, pass, input, warmup, latency_s, breakdown, ts, pacing, "
                       "held) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (cell, pass_, input_, int(warmup), latency_s, json.dumps(breakdown), time.time(),
                        _json(pacing or {}), int(held)))

    def add_unheld(self, cell: str, pass_: int, input_: int, latency_s: float,
                   pacing: dict[str, dict[str, float]]) -> None:
        """A sample taken while the host was too slow for its tiers' speed (it is measured again)."""
        with self.transaction() as db:
            db.execute("INSERT INTO unheld (cell, pass, input, latency_s, pacing, ts) VALUES (?, ?, ?, ?, ?, ?)",
                       (cell, pass_, input_, latency_s, _json(pacing), time.time()))

    def unheld(self) -> list[dict[str, Any]]:
        cur = self.db.execute("SELECT cell, pass, input, latency_s, pacing, ts FROM unheld ORDER BY id")
        return [{"cell": c, "pass": p, "input": i, "latency_s": lat, "pacing": json.loads(pc), "ts": ts}
                for c, p, i, lat, pc, ts in cur]

    def pacing(self) -> list[tuple[float, str, dict[str, dict[str, float]], bool]]:
        """Every sample's (time, cell, pacing, held), in time order: the host's speed over the run."""
        cur = self.db.execute("SELECT ts, cell, pacing, held FROM latency ORDER BY ts")
        return [(ts, cell, json.loads(pc), bool(h)) for ts, cell, pc, h in cur]

    def add_load(self, cell: str, record: dict[str, Any]) -> None:
        """A cell's server-scenario search (measure/server.py): the largest rate it sustains, every step."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO load VALUES (?, ?, ?)", (cell, json.dumps(record, default=str),
                                                                      time.time()))

    def load_records(self) -> dict[str, dict[str, Any]]:
        return {c: json.loads(r) for c, r in self.db.execute("SELECT cell, record FROM load")}

    def set_nominal(self, record: dict[str, Any]) -> None:
        """The nominal host speed this study's tiers are relative to (kept from its first run)."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO nominal VALUES (1, ?)", (json.dumps(record),))

    def nominal(self) -> dict[str, Any] | None:
        row = self.db.execute("SELECT record FROM nominal WHERE id = 1").fetchone()
        return json.loads(row[0]) if row else None

    def done_inputs(self, cell: str, pass_: int) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT input FROM latency WHERE cell = ? AND pass = ?", (cell, pass_))}

    def sample_count(self, cell: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM latency WHERE cell = ?", (cell,)).fetchone()[0]

    def samples(self, cell: str) -> list[tuple[int, int, bool, float, dict[str, float]]]:
        cur = self.db.execute(
            "SELECT pass, input, warmup, latency_s, breakdown FROM latency WHERE cell = ? ORDER BY pass, input", (cell,))
        return [(p, i, bool(w), lat, json.loads(b)) for p, i, w, lat, b in cur]

    # --- per-artifact profiles (operator times, serving memory), per thread count of its parts -------
    def add_profile(self, artifact: str, threads: tuple[int, ...], profile: dict[str, Any] | None,
                    memory: dict[str, Any] | None, error: str | None = None) -> None:
        """An artifact's host profile and serving memory on parts run with these thread counts (either may
        be None, with `error` saying why)."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO artifact_profiles VALUES (?, ?, ?, ?, ?, ?)",
                       (artifact, _threads_key(threads), None if profile is None else json.dumps(profile),
                        None if memory is None else json.dumps(memory), error, time.time()))

    def profile(self, artifact: str, threads: tuple[int, ...]) -> dict[str, Any] | None:
        """{"profile": ..., "memory": ..., "error": ...} as stored, or None when not profiled yet."""
        row = self.db.execute("SELECT profile, memory, error FROM artifact_profiles WHERE artifact = ? AND threads = ?",
                              (artifact, _threads_key(threads))).fetchone()
        if row is None:
            return None
        return {"profile": None if row[0] is None else json.loads(row[0]),
                "memory": None if row[1] is None else json.loads(row[1]), "error": row[2]}

    def unheld_kept(self, cell: str) -> int:
        """How many of the cell's measured samples were kept although the host could not hold them."""
        return self.db.execute("SELECT COUNT(*) FROM latency WHERE cell = ? AND held = 0 AND warmup = 0",
                               (cell,)).fetchone()[0]

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


def _threads_key(threads: tuple[int, ...]) -> str:
    return ",".join(str(int(t)) for t in threads)
