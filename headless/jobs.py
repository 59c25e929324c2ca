"""The job table: one SQLite file (WAL) that survives broker crashes and restarts.

One job = one character. The table stores the character's expanded samples (JSON), so any
image can be reproduced from the table alone, and for every job its state, its current
attempt (the fencing token of the lease) and its failure history::

    pending ──lease──▶ leased ──DONE verified──▶ done
       ▲                  │
       └──requeue─────────┤ (worker dead, lease lost, error, bad checksum)
                          └──too many failures──▶ failed (parked with its error)

Only the broker process writes; `status` reads concurrently (WAL allows it). Writes are
grouped: the broker commits once per loop turn and answers workers after the commit.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from synth_humans_addon.core.spec_io import spec_fingerprint

PENDING, LEASED, DONE, FAILED = "pending", "leased", "done", "failed"
STATES = (PENDING, LEASED, DONE, FAILED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,          -- the character index
    pid INTEGER NOT NULL,
    split TEXT NOT NULL,
    images INTEGER NOT NULL,
    sample TEXT NOT NULL,            -- CharacterSample.to_dict() as JSON
    state TEXT NOT NULL DEFAULT 'pending',
    attempt INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    failures INTEGER NOT NULL DEFAULT 0,   -- errors and rejected results
    lost INTEGER NOT NULL DEFAULT 0,       -- leases lost (dead or silent worker)
    last_error TEXT,
    leased_at REAL, finished_at REAL, render_s REAL,
    completions INTEGER NOT NULL DEFAULT 0, -- times it was marked done (must end at 1)
    lease_token TEXT,                -- the current (or last) lease's secret: proves the holder
    lease_key TEXT                   -- the holder's CURVE public key (z85), with CURVE
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS attempts (
    job INTEGER NOT NULL, attempt INTEGER NOT NULL, worker TEXT, started REAL, ended REAL,
    outcome TEXT, error TEXT, PRIMARY KEY (job, attempt)
);
CREATE TABLE IF NOT EXISTS workers (
    name TEXT PRIMARY KEY, host TEXT, pid INTEGER, renderer TEXT, state TEXT,
    first_seen REAL, last_seen REAL, jobs_done INTEGER DEFAULT 0, images_done INTEGER DEFAULT 0,
    render_s REAL DEFAULT 0, current_job INTEGER
);
CREATE TABLE IF NOT EXISTS events (t REAL, kind TEXT, detail TEXT);
"""


@dataclass
class JobRow:
    id: int
    pid: int
    images: int
    state: str
    attempt: int
    failures: int
    lost: int


class JobTable:
    """The broker's handle on the SQLite job table (single writer)."""

    def __init__(self, path: Path, readonly: bool = False):
        self.path = Path(path)
        if readonly:
            if not self.path.is_file():
                raise FileNotFoundError(f"{self.path}: no job table here")
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives any process crash; after a power cut the last few
            # commits may roll back, which only re-renders jobs (names are deterministic).
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            self._migrate()
        self.db.row_factory = sqlite3.Row
        self._in_tx = False

    def _migrate(self) -> None:
        """Tables of an older version lack the lease binding columns: add them (resumable runs)."""
        have = {r[1] for r in self.db.execute("PRAGMA table_info(jobs)")}
        for col in ("lease_token", "lease_key"):
            if col not in have:
                self.db.execute(f"ALTER TABLE jobs ADD COLUMN {col} TEXT")

    def rollback(self) -> None:
        """Drop the current transaction (after a failed write: nothing half-way)."""
        self._in_tx = False
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite already rolled it back

    def close(self) -> None:
        if self._in_tx:
            self.commit()
        self.db.close()

    def abandon(self) -> None:
        """Close without committing (when closing failed on a storage fault): the table stays as
        last committed."""
        self.rollback()
        self.db.close()

    # -- transactions: the broker groups a loop turn's writes into one commit ------------
    def begin(self) -> None:
        if not self._in_tx:
            self.db.execute("BEGIN IMMEDIATE")
            self._in_tx = True

    def commit(self) -> None:
        if self._in_tx:
            self.db.execute("COMMIT")
            self._in_tx = False

    # -- setup -----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def is_initialised(self) -> bool:
        return self.get_meta("spec") is not None

    def initialise(self, spec_dict: dict[str, Any], samples: Iterable[dict[str, Any]]) -> int:
        """Store the spec and every expanded character (one transaction). Returns the job count."""
        self.begin()
        self.set_meta("spec", json.dumps(spec_dict))
        self.set_meta("spec_fingerprint", spec_fingerprint(spec_dict))
        self.set_meta("created", repr(time.time()))
        n = 0
        for s in samples:
            self.db.execute("INSERT INTO jobs(id, pid, split, images, sample) VALUES (?, ?, ?, ?, ?)",
                            (s["index"], s["pid"], s["split"], len(s["images"]), json.dumps(s)))
            n += 1
        self.commit()
        return n

    def spec_dict(self) -> dict[str, Any]:
        raw = self.get_meta("spec")
        if raw is None:
            raise RuntimeError(f"{self.path}: job table has no spec (not initialised)")
        return json.loads(raw)

    # -- queries ---------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        c = {s: 0 for s in STATES}
        for state, n in self.db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            c[state] = n
        return c

    def image_counts(self) -> tuple[int, int]:
        """(images of done jobs, all images)."""
        done, total = self.db.execute(
            "SELECT COALESCE(SUM(CASE WHEN state='done' THEN images ELSE 0 END), 0), COALESCE(SUM(images), 0) "
            "FROM jobs").fetchone()
        return int(done), int(total)

    def ids_in_state(self, state: str) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM jobs WHERE state=? ORDER BY id", (state,))]

    def lease_binding(self, job_id: int) -> tuple[str | None, str | None]:
        """(token, CURVE key) of the job's current or last lease."""
        r = self.db.execute("SELECT lease_token, lease_key FROM jobs WHERE id=?", (job_id,)).fetchone()
        return (r[0], r[1]) if r else (None, None)

    def row(self, job_id: int) -> JobRow:
        r = self.db.execute("SELECT id, pid, images, state, attempt, failures, lost FROM jobs WHERE id=?",
                            (job_id,)).fetchone()
        if r is None:
            raise KeyError(job_id)
        return JobRow(*r)

    def image_count_per_job(self) -> list[int]:
        """Images of every job, indexed by job id (ids are the character indices 0..n-1)."""
        rows = self.db.execute("SELECT id, images FROM jobs ORDER BY id").fetchall()
        counts = [0] * len(rows)
        for job_id, n in rows:
            if not 0 <= job_id < len(rows):
                raise RuntimeError(f"{self.path}: job ids are not 0..{len(rows) - 1} (found {job_id})")
            counts[job_id] = n
        return counts

    def sample_json(self, job_id: int) -> str:
        return self.db.execute("SELECT sample FROM jobs WHERE id=?", (job_id,)).fetchone()[0]

    def done_pids(self) -> list[tuple[int, int]]:
        """(job id, pid) of every done job: a restarted broker checks each has its metadata file."""
        return self.db.execute("SELECT id, pid FROM jobs WHERE state='done'").fetchall()

    def unfinished_ids_ever_leased(self) -> list[int]:
        """Pending or leased jobs that were handed out at least once: only these can have files on disk."""
        return [r[0] for r in self.db.execute("SELECT id FROM jobs WHERE state IN ('pending', 'leased') "
                                              "AND attempt > 0")]

    # -- transitions (inside the current transaction) ---------------------------------------
    def lease(self, job_id: int, worker: str, now: float) -> int:
        """Give the job to `worker`; returns the new attempt number (the fencing token)."""
        return self.lease_many([(job_id, worker)], now)[0][0]

    def lease_many(self, leases: list[tuple[int, str]], now: float, tokens: list[str] | None = None,
                   keys: list[str | None] | None = None) -> list[tuple[int, str]]:
        """`lease` for a batch of (job, worker): one statement per job plus one for the batch.
        `tokens` and `keys` bind each lease to its holder (stored so a restarted broker can check
        them). Returns (attempt, sample JSON) per job: the broker sends the sample with the lease."""
        if not leases:
            return []
        tokens = tokens or [None] * len(leases)
        keys = keys or [None] * len(leases)
        self.begin()
        out = [self.db.execute("UPDATE jobs SET state='leased', attempt=attempt+1, worker=?, leased_at=?, "
                               "lease_token=?, lease_key=? WHERE id=? RETURNING attempt, sample",
                               (worker, now, token, key, job_id)).fetchone()
               for (job_id, worker), token, key in zip(leases, tokens, keys)]
        self.db.executemany("INSERT OR REPLACE INTO attempts(job, attempt, worker, started) VALUES (?, ?, ?, ?)",
                            [(job_id, attempt, worker, now) for (job_id, worker), (attempt, _) in zip(leases, out)])
        return out

    def complete(self, job_id: int, attempt: int, now: float, render_s: float | None) -> bool:
        """Mark done if `attempt` is still the current lease; False if it was superseded."""
        self.begin()
        cur = self.db.execute("UPDATE jobs SET state='done', finished_at=?, render_s=?, completions=completions+1 "
                              "WHERE id=? AND attempt=? AND state='leased'", (now, render_s, job_id, attempt))
        if cur.rowcount != 1:
            return False
        self.db.execute("UPDATE attempts SET ended=?, outcome='done' WHERE job=? AND attempt=?", (now, job_id, attempt))
        return True

    def complete_many(self, results: list[tuple[int, int, float | None]], now: float) -> list[bool]:
        """`complete` for a batch of (job, attempt, render_s): two statements for the whole batch.
        Returns, per result, whether it was committed (False: its attempt was superseded)."""
        if not results:
            return []
        self.begin()
        cur = self.db.executemany("UPDATE jobs SET state='done', finished_at=?, render_s=?, "
                                  "completions=completions+1 WHERE id=? AND attempt=? AND state='leased'",
                                  [(now, render_s, job, attempt) for job, attempt, render_s in results])
        if cur.rowcount == len(results):
            ok = [True] * len(results)
        else:  # some were superseded (never expected: the broker fences first): find which
            ok = [tuple(self.db.execute("SELECT state, attempt, finished_at FROM jobs WHERE id=?", (job,)).fetchone())
                  == (DONE, attempt, now) for job, attempt, _ in results]
        self.db.executemany("UPDATE attempts SET ended=?, outcome='done' WHERE job=? AND attempt=?",
                            [(now, job, attempt) for (job, attempt, _), good in zip(results, ok) if good])
        return ok

    def mark_recovered(self, job_id: int, now: float) -> None:
        """A job whose files were fully stored before a broker crash: done without re-rendering."""
        self.begin()
        self.db.execute("UPDATE jobs SET state='done', finished_at=?, completions=completions+1 WHERE id=? "
                        "AND state!='done'", (now, job_id))

    def release(self, job_id: int, attempt: int, now: float, error: str, failure: bool | None, max_failures: int,
                max_lost: int) -> str | None:
        """End the current attempt without success. `failure`: True counts an error against the
        job, False a lost lease, None nothing (the broker's own fault: a disk, a restart).
        Returns the new state (pending or failed), or None if `attempt` was not the current
        lease (nothing changes)."""
        self.begin()
        col = {True: "failures", False: "lost", None: None}[failure]
        count = f"{col}={col}+1, " if col else ""
        cur = self.db.execute(f"UPDATE jobs SET state='pending', worker=NULL, {count}last_error=? "
                              "WHERE id=? AND attempt=? AND state='leased'", (error[:2000], job_id, attempt))
        if cur.rowcount != 1:
            return None
        self.db.execute("UPDATE attempts SET ended=?, outcome=?, error=? WHERE job=? AND attempt=?",
                        (now, {True: "failed", False: "lost", None: "interrupted"}[failure], error[:2000], job_id,
                         attempt))
        if col is None:
            return PENDING
        failures, lost = self.db.execute("SELECT failures, lost FROM jobs WHERE id=?", (job_id,)).fetchone()
        if failures >= max_failures or lost >= max_lost:
            self.db.execute("UPDATE jobs SET state='failed' WHERE id=?", (job_id,))
            return FAILED
        return PENDING

    def undo_done(self, job_id: int) -> None:
        """A done job whose files are gone (power cut): pending again, its completion withdrawn."""
        self.begin()
        self.db.execute("UPDATE jobs SET state='pending', worker=NULL, completions=MAX(0, completions-1) "
                        "WHERE id=? AND state='done'", (job_id,))

    def retry_failed(self) -> int:
        """Give parked jobs another chance (`broker --retry-failed`)."""
        self.begin()
        return self.db.execute("UPDATE jobs SET state='pending', failures=0, lost=0 WHERE state='failed'").rowcount

    def event(self, kind: str, detail: str, now: float | None = None) -> None:
        self.begin()
        self.db.execute("INSERT INTO events(t, kind, detail) VALUES (?, ?, ?)", (now or time.time(), kind, detail[:2000]))

    def count_events(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def trim_events(self, keep: int, keep_kinds: Iterable[str] = ()) -> int:
        """Delete the oldest events beyond `keep` rows, never those of `keep_kinds`; returns the rows left."""
        self.begin()
        kinds = sorted(keep_kinds)
        marks = ",".join("?" * len(kinds)) or "NULL"
        excess = self.count_events() - keep
        if excess > 0:
            self.db.execute(f"DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE kind NOT IN ({marks}) "
                            "ORDER BY rowid LIMIT ?)", (*kinds, excess))
        return self.count_events()

    # -- workers (for `status`) ---------------------------------------------------------------
    def upsert_worker(self, name: str, host: str, pid: int, renderer: str, state: str, now: float,
                      current_job: int | None) -> None:
        self.begin()
        self.db.execute(
            "INSERT INTO workers(name, host, pid, renderer, state, first_seen, last_seen, current_job) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET host=excluded.host, pid=excluded.pid, "
            "renderer=excluded.renderer, state=excluded.state, last_seen=excluded.last_seen, "
            "current_job=excluded.current_job", (name, host, pid, renderer, state, now, now, current_job))

    def worker_state(self, name: str, state: str, now: float, current_job: int | None) -> None:
        self.begin()
        self.db.execute("UPDATE workers SET state=?, last_seen=?, current_job=? WHERE name=?",
                        (state, now, current_job, name))

    def forget_idle_worker(self, name: str) -> None:
        """Drop the row of a worker that left without completing a job: peers that register and
        go silent must not leave a row each for ever."""
        self.begin()
        self.db.execute("DELETE FROM workers WHERE name=? AND jobs_done=0", (name,))

    def worker_done(self, name: str, jobs: int, images: int, render_s: float, now: float, state: str) -> None:
        self.begin()
        self.db.execute("UPDATE workers SET jobs_done=jobs_done+?, images_done=images_done+?, "
                        "render_s=render_s+?, last_seen=?, state=? WHERE name=?",
                        (jobs, images, render_s or 0.0, now, state, name))
