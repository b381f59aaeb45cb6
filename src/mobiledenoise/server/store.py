"""The server's state: teams, submissions and the evaluation queue, in one SQLite file.

Design choices:
- SQLite in WAL mode with `synchronous=FULL`: the web server and the worker are separate
  processes that read while the other writes, and an upload is durable before its 202 reply.
  Each call opens its own short connection, so the store is safe from any thread or process.
- Tokens are `secrets.token_urlsafe(32)`; only their SHA-256 is stored. Lookup is by hash and
  the hashes are compared with `hmac.compare_digest`.
- The queue is the `submissions` table. A worker *claims* the oldest `queued` row inside
  `BEGIN IMMEDIATE` (one writer at a time, so two workers never claim one row), setting it to
  `running` with its worker id and a lease that it renews while the evaluation runs. A row whose
  lease ran out, or whose worker process on this host is gone, goes back to `queued` (`recover`).
- `finish` writes the figures and the final status in ONE statement guarded by
  `status='running' AND worker=?`: a worker that lost its lease cannot write, so nothing is
  scored twice. Every transition is appended to `events`, the audit trail the tests read.
- The database is created only in a NEW state folder. A folder that already holds `models/`
  but no database (deleted, or a half-restored backup) is refused at start, as is a corrupt or
  read-only one: one `StateError` line saying how to restore, never a silently empty server.
  Connections open the file in `mode=rw`, so a database deleted while the server runs is an
  error (503), not a new empty file. `backup()` is SQLite's online backup (safe while serving).
- Team names are checked by `names` (ASCII after NFKC, unique ignoring case).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mobiledenoise.errors import UserError
from mobiledenoise.server.names import normalise_team_name, team_key

DB_NAME = "server.sqlite3"
MAX_ATTEMPTS = 3  # a submission interrupted this often is failed, not retried forever

_SCHEMA = """
CREATE TABLE IF NOT EXISTS teams (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY, team_id INTEGER NOT NULL REFERENCES teams(id), phase TEXT NOT NULL,
    filename TEXT NOT NULL, sha256 TEXT NOT NULL, size_bytes INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'scored', 'failed')),
    created_at REAL NOT NULL, started_at REAL, finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0, worker TEXT, lease_until REAL,
    psnr REAL, ssim REAL, runtime_ms REAL, score REAL, n_images INTEGER, error_log TEXT,
    audit TEXT);
CREATE INDEX IF NOT EXISTS submissions_queue ON submissions(status, id);
CREATE INDEX IF NOT EXISTS submissions_team ON submissions(team_id, phase);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, submission_id INTEGER NOT NULL, event TEXT NOT NULL,
    worker TEXT, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS published (phase TEXT PRIMARY KEY, at REAL NOT NULL);
"""

RESULT_FIELDS = ("psnr", "ssim", "runtime_ms", "score", "n_images")


@dataclass(frozen=True)
class Team:
    id: int
    name: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def this_worker_id() -> str:
    """`host:pid:random` — the pid lets a restarted worker on this host see the old one is gone."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class StateError(UserError):
    """The state folder cannot be used (missing, corrupt or read-only database)."""


RESTORE_HINT = ("restore server.sqlite3 from a backup (README: 'Backing up the challenge "
                "server') or start with a new --state folder")


class Store:
    def __init__(self, state_dir: str | Path):
        self.state_dir = Path(state_dir)
        self.models_dir = self.state_dir / "models"
        self.path = self.state_dir / DB_NAME
        if self.models_dir.is_dir() and not self.path.exists():
            raise StateError(f"expected the database {self.path} beside {self.models_dir}, "
                             f"received a state folder without it; {RESTORE_HINT}")
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.models_dir.mkdir(exist_ok=True)
            (self.state_dir / "tmp").mkdir(exist_ok=True)  # uploads and evaluation jobs
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")  # persistent: set once, outside a transaction
                db.executescript(_SCHEMA)
            finally:
                db.close()
        except (sqlite3.Error, OSError) as exc:
            corrupt = isinstance(exc, sqlite3.DatabaseError) and any(
                words in str(exc) for words in ("not a database", "malformed"))
            hint = RESTORE_HINT if corrupt else ("make the state folder writable and give its "
                                                 "disk room, then start again")
            raise StateError(f"expected a usable server database at {self.path}, received "
                             f"{describe_fault(exc)}; {hint}") from None

    @contextmanager
    def _connect(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=rw", timeout=30,
                             isolation_level=None, uri=True)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def backup(self, target: str | Path) -> Path:
        """SQLite's online backup of the database to `target` (consistent while serving)."""
        target = Path(target)
        source = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            copy = sqlite3.connect(target)
            try:
                source.backup(copy)
            finally:
                copy.close()
        finally:
            source.close()
        return target

    def count(self, status: str) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM submissions WHERE status = ?", (status,)).fetchone()[0]

    # ---- teams -------------------------------------------------------------------------
    def add_team(self, name: str) -> str:
        """Create team `name`; return its token (shown once, stored only as a hash)."""
        name = normalise_team_name(name)
        token = secrets.token_urlsafe(32)
        try:
            with self._connect(immediate=True) as db:
                for (existing,) in db.execute("SELECT name FROM teams"):
                    if team_key(existing) == team_key(name):
                        raise UserError(f"expected a new team name, received {name!r} which "
                                        f"exists as {existing!r} (names are compared "
                                        "ignoring case); choose another name")
                db.execute("INSERT INTO teams (name, token_hash, created_at) VALUES (?, ?, ?)",
                           (name, hash_token(token), time.time()))
        except sqlite3.IntegrityError:
            raise UserError(f"expected a new team name, received {name!r} which exists; "
                            "choose another name") from None
        return token

    def team_for_token(self, token: str) -> Team | None:
        wanted = hash_token(token)
        with self._connect() as db:
            row = db.execute("SELECT id, name, token_hash FROM teams WHERE token_hash = ?",
                             (wanted,)).fetchone()
        if row is None or not hmac.compare_digest(row["token_hash"], wanted):
            return None
        return Team(row["id"], row["name"])

    def teams(self) -> list[Team]:
        with self._connect() as db:
            return [Team(r["id"], r["name"]) for r in db.execute("SELECT id, name FROM teams ORDER BY id")]

    # ---- submissions -------------------------------------------------------------------
    def add_submission(self, team: Team, phase: str, filename: str, sha256: str, size_bytes: int,
                       audit: dict, *, per_day: int, max_total: int | None) -> int:
        """Queue a checked model; the limits are counted in the same transaction as the insert."""
        now = time.time()
        day_start = now - now % 86400
        with self._connect(immediate=True) as db:
            counted = "team_id = ? AND phase = ? AND status != 'failed'"
            today = db.execute(f"SELECT COUNT(*) FROM submissions WHERE {counted} AND created_at >= ?",
                               (team.id, phase, day_start)).fetchone()[0]
            if today >= per_day:
                raise LimitReached(f"expected at most {per_day} submission(s) per day in phase "
                                   f"{phase!r}, received one more; try again after 00:00 UTC")
            total = db.execute(f"SELECT COUNT(*) FROM submissions WHERE {counted}",
                               (team.id, phase)).fetchone()[0]
            if max_total is not None and total >= max_total:
                raise LimitReached(f"expected at most {max_total} submission(s) in phase {phase!r}, "
                                   f"received one more; your earlier submission is final")
            cursor = db.execute(
                "INSERT INTO submissions (team_id, phase, filename, sha256, size_bytes, status, "
                "created_at, audit) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
                (team.id, phase, filename, sha256, size_bytes, now, json.dumps(audit)))
            _event(db, cursor.lastrowid, "queued", None, now)
            return cursor.lastrowid

    def submission(self, submission_id: int) -> dict | None:
        with self._connect() as db:
            row = db.execute(_SELECT + " WHERE s.id = ?", (submission_id,)).fetchone()
        return _row_dict(row) if row else None

    def submissions(self, *, team_id: int | None = None, phase: str | None = None,
                    status: str | None = None) -> list[dict]:
        clauses, args = [], []
        for column, value in (("s.team_id", team_id), ("s.phase", phase), ("s.status", status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._connect() as db:
            return [_row_dict(r) for r in db.execute(_SELECT + where + " ORDER BY s.id", args)]

    def events(self, submission_id: int) -> list[str]:
        with self._connect() as db:
            rows = db.execute("SELECT event FROM events WHERE submission_id = ? ORDER BY id",
                              (submission_id,))
            return [r["event"] for r in rows]

    # ---- queue -------------------------------------------------------------------------
    def claim(self, worker: str, lease_seconds: float) -> dict | None:
        """Take the oldest queued submission, or None when the queue is empty."""
        now = time.time()
        with self._connect(immediate=True) as db:
            row = db.execute("SELECT id FROM submissions WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute("UPDATE submissions SET status = 'running', worker = ?, lease_until = ?, "
                       "started_at = ?, attempts = attempts + 1 WHERE id = ?",
                       (worker, now + lease_seconds, now, row["id"]))
            _event(db, row["id"], "running", worker, now)
        return self.submission(row["id"])

    def renew(self, submission_id: int, worker: str, lease_seconds: float) -> bool:
        """Extend the lease; False means it was lost (another worker may own the row now)."""
        with self._connect(immediate=True) as db:
            cursor = db.execute("UPDATE submissions SET lease_until = ? WHERE id = ? AND "
                                "status = 'running' AND worker = ?",
                                (time.time() + lease_seconds, submission_id, worker))
            return cursor.rowcount == 1

    def finish(self, submission_id: int, worker: str, *, result: dict | None = None,
               error_log: str | None = None) -> bool:
        """Record the outcome once: scored with figures, or failed with a log."""
        status = "failed" if error_log is not None else "scored"
        figures = [(result or {}).get(name) for name in RESULT_FIELDS]
        now = time.time()
        with self._connect(immediate=True) as db:
            cursor = db.execute(
                "UPDATE submissions SET status = ?, psnr = ?, ssim = ?, runtime_ms = ?, score = ?, "
                "n_images = ?, error_log = ?, finished_at = ?, lease_until = NULL "
                "WHERE id = ? AND status = 'running' AND worker = ?",
                (status, *figures, error_log, now, submission_id, worker))
            if cursor.rowcount != 1:
                return False
            _event(db, submission_id, status, worker, now)
            return True

    def release(self, submission_id: int, worker: str) -> bool:
        """Hand a claimed row back to the queue (worker stopping); the attempt is not counted."""
        with self._connect(immediate=True) as db:
            cursor = db.execute("UPDATE submissions SET status = 'queued', worker = NULL, "
                                "lease_until = NULL, attempts = attempts - 1 "
                                "WHERE id = ? AND status = 'running' AND worker = ?",
                                (submission_id, worker))
            if cursor.rowcount == 1:
                _event(db, submission_id, "released", worker, time.time())
            return cursor.rowcount == 1

    def recover(self, *, now: float | None = None) -> list[int]:
        """Requeue `running` rows whose lease expired or whose worker on this host is dead."""
        now = time.time() if now is None else now
        host = socket.gethostname()
        requeued = []
        with self._connect(immediate=True) as db:
            rows = db.execute("SELECT id, worker, lease_until, attempts FROM submissions "
                              "WHERE status = 'running'").fetchall()
            for row in rows:
                if not (row["lease_until"] < now or _dead_local_worker(row["worker"], host)):
                    continue
                if row["attempts"] >= MAX_ATTEMPTS:
                    db.execute("UPDATE submissions SET status = 'failed', finished_at = ?, "
                               "error_log = ? WHERE id = ?",
                               (now, f"evaluation was interrupted {row['attempts']} times "
                                     "(worker stopped or lost its lease); giving up", row["id"]))
                    _event(db, row["id"], "failed", None, now)
                else:
                    db.execute("UPDATE submissions SET status = 'queued', worker = NULL, "
                               "lease_until = NULL WHERE id = ?", (row["id"],))
                    _event(db, row["id"], "requeued", row["worker"], now)
                    requeued.append(row["id"])
        return requeued

    # ---- publication -------------------------------------------------------------------
    def publish(self, phase: str) -> None:
        with self._connect(immediate=True) as db:
            db.execute("INSERT OR IGNORE INTO published (phase, at) VALUES (?, ?)", (phase, time.time()))

    def is_published(self, phase: str) -> bool:
        with self._connect() as db:
            return db.execute("SELECT 1 FROM published WHERE phase = ?", (phase,)).fetchone() is not None

    def model_path(self, sha256: str) -> Path:
        return self.models_dir / f"{sha256}.tflite"


def describe_fault(exc: BaseException) -> str:
    """One line for a state fault: what broke, without a traceback."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    return f"{type(exc).__name__}: {text}"


class LimitReached(UserError):
    """A team's submission limit for the phase is used up (HTTP 429)."""


_SELECT = "SELECT s.*, t.name AS team FROM submissions s JOIN teams t ON t.id = s.team_id"


def _row_dict(row: sqlite3.Row) -> dict:
    data = dict(row)
    data["audit"] = json.loads(data["audit"]) if data.get("audit") else None
    return data


def _event(db: sqlite3.Connection, submission_id: int, event: str, worker: str | None, at: float) -> None:
    db.execute("INSERT INTO events (submission_id, event, worker, at) VALUES (?, ?, ?, ?)",
               (submission_id, event, worker, at))


def _dead_local_worker(worker: str | None, host: str) -> bool:
    if not worker:
        return True
    worker_host, _, rest = worker.partition(":")
    pid = rest.partition(":")[0]
    if worker_host != host or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed worker not yet reaped by its parent is a zombie: gone all the same
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
