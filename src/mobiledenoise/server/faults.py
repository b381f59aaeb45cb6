"""A broken state folder answered clearly: 503/507 with one line, never a plain-text 500.

The web process meets state faults as exceptions from SQLite or the file system: a read-only
folder, a full disk, a database deleted or corrupted under it. `fault_response` turns each into
a JSON answer (`{"detail": one line}`): 507 when the disk is full, 503 otherwise. `probe`
is what `/api/health` reports: the database file is present and answers, the state folder
takes a file, and the disk has room for one more upload; the first failure is the reason.
Details (paths, SQLite's words) are for the operator, and go to the server log; the
participant is told what broke and to try again later.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import tempfile

from fastapi.responses import JSONResponse

from mobiledenoise.server.store import Store, describe_fault

log = logging.getLogger("mobiledenoise.server")

STATE_FAULTS = (sqlite3.Error, OSError)
_FULL = ("database or disk is full",)


def is_disk_full(exc: BaseException, store: Store) -> bool:
    """ENOSPC, SQLite's "disk is full", or any fault on a disk with under 1 MiB free (SQLite
    then often says only "unable to open database file" or "disk I/O error")."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if any(words in str(exc) for words in _FULL):
        return True
    try:
        return shutil.disk_usage(store.state_dir).free < 1024**2
    except OSError:
        return False


def summary(exc: BaseException, store: Store) -> str:
    """What broke, in words a participant can read (no paths)."""
    text = str(exc).lower()
    if is_disk_full(exc, store):
        return "the server's disk is full"
    if not store.path.exists():
        return "the server's database is missing"
    if ((isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM))
            or "readonly" in text or "read-only" in text or not _writable(store.state_dir)):
        return "the server's state folder is read-only"
    if "not a database" in text or "malformed" in text:
        return "the server's database is corrupt"
    return "the server's state is unavailable"


def fault_response(exc: BaseException, store: Store) -> JSONResponse:
    log.error("state fault: %s", describe_fault(exc))
    status = 507 if is_disk_full(exc, store) else 503
    return JSONResponse({"detail": f"{summary(exc, store)}; the organiser has to fix it, try "
                                   "again later"}, status_code=status, headers={"Retry-After": "60"})


def _writable(folder) -> bool:
    try:
        fd, path = tempfile.mkstemp(prefix=".probe-", dir=folder)
    except OSError as exc:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)  # full is not read-only
    os.close(fd)
    os.unlink(path)
    return True


def probe(store: Store, min_free_bytes: int) -> str | None:
    """None when the state is healthy, else one line saying what is wrong."""
    if not store.path.exists():
        return "the server's database is missing"
    try:
        store.count("queued")
        fd, path = tempfile.mkstemp(prefix=".health-", dir=store.state_dir)
        os.close(fd)
        os.unlink(path)
    except STATE_FAULTS as exc:
        log.error("health: %s", describe_fault(exc))
        return summary(exc, store)
    if shutil.disk_usage(store.state_dir).free < min_free_bytes:
        return f"the server's disk is full (less than {min_free_bytes // 1024**2} MiB free)"
    return None
