"""Issue 15, items 2-3: a read-only state folder, a full disk, a deleted or corrupted database.
Every route answers JSON (503, or 507 for a full disk) with one line, `/api/health` says what
is wrong, the worker backs off and stops with one line, `serve` does not restart it in a loop,
and a state folder with `models/` but no database is refused at start instead of silently
starting empty.

Read-only folders and full disks are real: a small tmpfs mounted (and remounted read-only)
for the test, which needs root (CAP_SYS_ADMIN); without it those tests skip. The database
faults need nothing special."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import tflite_bombs as bombs
from fastapi.testclient import TestClient
from server_helpers import make_phases
from tflite_bombs import RGB
from typer.testing import CliRunner

from conftest import make_pair_folder
from mobiledenoise.cli import app as cli_app
from mobiledenoise.server.app import create_app
from mobiledenoise.server.store import DB_NAME, StateError, Store
from mobiledenoise.server.uploads import UploadLimits
from mobiledenoise.server.worker import EXIT_STATE_FAULT, MAX_STATE_FAULTS, StateFault, Worker

GOOD = bombs.relu_chain([(RGB, 0), (RGB, 0)])
ROUTES = ("/", "/leaderboard", "/api/leaderboard", "/api/phases", "/api/submissions",
          "/api/submissions/1")


@pytest.fixture
def hidden(tmp_path):
    return make_pair_folder(tmp_path / "hidden" / "validation").parent


@pytest.fixture
def tmpfs(tmp_path):
    """A fresh 8 MiB tmpfs; yields (mount point, remount(read_only: bool))."""
    point = tmp_path / f"fs-{uuid.uuid4().hex[:6]}"
    point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); needs root")

    def remount(read_only: bool) -> None:
        subprocess.run(["mount", "-o", f"remount,{'ro' if read_only else 'rw'}", str(point)], check=True)

    try:
        yield point, remount
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _assert_clear_fault(reply, statuses=(503,)) -> str:
    assert reply.status_code in statuses, (reply.request.url, reply.status_code, reply.text[:300])
    detail = reply.json()["detail"]
    assert "\n" not in detail and "Traceback" not in detail and "/" not in detail, detail
    return detail


def _worker_process(hidden: Path, state: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mobiledenoise.server.worker", "--data", str(hidden),
                           "--state", str(state)], capture_output=True, text=True, timeout=60)


def _assert_worker_stops_with_one_line(hidden: Path, state: Path, phrase: str) -> None:
    started = time.monotonic()
    done = _worker_process(hidden, state)
    assert done.returncode == EXIT_STATE_FAULT, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and phrase in errors[0], done.stderr
    assert time.monotonic() - started < 30


# ---- item 2: read-only state folder, full disk ------------------------------------------

def test_read_only_state_folder_gives_503s_and_the_worker_stops(tmpfs, hidden):
    point, remount = tmpfs
    state = point / "state"
    app = create_app(state, hidden, make_phases())
    token = app.state.store.add_team("alpha")
    client = TestClient(app)
    assert client.post("/api/submissions", headers=_auth(token),
                       files={"file": ("m.tflite", GOOD)}).status_code == 202
    remount(read_only=True)

    health = client.get("/api/health")
    assert health.status_code == 503 and "read-only" in health.json()["reason"], health.text
    upload = client.post("/api/submissions", headers=_auth(token), files={"file": ("m.tflite", GOOD)})
    assert "read-only" in _assert_clear_fault(upload)
    for route in ROUTES:  # reads may still work; nothing is a plain 500
        reply = client.get(route, headers=_auth(token))
        assert reply.status_code in (200, 404, 503), (route, reply.status_code, reply.text[:200])
        if reply.status_code == 503:
            _assert_clear_fault(reply)
    _assert_worker_stops_with_one_line(hidden, state, "state folder")


def test_worker_backs_off_then_stops_when_the_folder_turns_read_only(tmpfs, hidden, capfd):
    point, remount = tmpfs
    store = Store(point / "state")
    store.add_team("alpha")
    remount(read_only=True)
    worker = Worker(store, hidden, make_phases(), backoff_seconds=0.01)
    started = time.monotonic()
    with pytest.raises(StateFault, match=f"failed {MAX_STATE_FAULTS} times in a row"):
        worker.run()
    assert time.monotonic() - started < 10
    retries = [line for line in capfd.readouterr().err.splitlines() if "state fault" in line]
    assert len(retries) == MAX_STATE_FAULTS - 1, retries


def test_full_disk_upload_gets_507_and_health_503(tmpfs, hidden):
    point, _ = tmpfs
    state = point / "state"
    app = create_app(state, hidden, make_phases(), limits=UploadLimits(max_bytes=3 * 1024**2))
    token = app.state.store.add_team("alpha")
    client = TestClient(app)
    filler = point / "filler"
    with open(filler, "wb") as out:  # fill the tmpfs up to its last few KiB
        try:
            while True:
                out.write(bytes(64 * 1024))
                out.flush()
        except OSError:
            pass
    while True:  # and the rest, byte by byte-ish, so the upload's first block cannot fit
        try:
            with open(filler, "ab") as out:
                out.write(bytes(1024))
        except OSError:
            break
    health = client.get("/api/health")
    assert health.status_code == 503 and "disk is full" in health.json()["reason"], health.text
    upload = client.post("/api/submissions", headers=_auth(token),
                         files={"file": ("m.tflite", GOOD + bytes(512 * 1024))})
    assert "disk is full" in _assert_clear_fault(upload, statuses=(507,))
    assert [p.name for p in (state / "tmp").iterdir() if p.name.startswith("upload-")] == []
    board = client.get("/api/leaderboard")  # reads: no plain 500 either
    if board.status_code != 200:
        _assert_clear_fault(board, statuses=(503, 507))
    filler.unlink()
    assert client.get("/api/health").status_code == 200  # recovers by itself


# ---- item 3: deleted or corrupt database -------------------------------------------------

def _server_with_a_submission(tmp_path, hidden):
    app = create_app(tmp_path / "state", hidden, make_phases())
    token = app.state.store.add_team("alpha")
    client = TestClient(app)
    assert client.post("/api/submissions", headers=_auth(token),
                       files={"file": ("m.tflite", GOOD)}).status_code == 202
    return client, app.state.store, token


def _remove_database(state: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (state / (DB_NAME + suffix)).unlink(missing_ok=True)


def test_deleted_database_is_503_while_running_and_refused_at_start(tmp_path, hidden):
    client, store, token = _server_with_a_submission(tmp_path, hidden)
    _remove_database(store.state_dir)
    health = client.get("/api/health")
    assert health.status_code == 503 and "missing" in health.json()["reason"]
    mine = client.get("/api/submissions", headers=_auth(token))  # not a 401: tokens did not vanish
    assert "missing" in _assert_clear_fault(mine)
    assert not store.path.exists()  # never silently re-created empty

    with pytest.raises(StateError, match="restore"):
        Store(store.state_dir)
    result = CliRunner().invoke(cli_app, ["serve", "add-team", "beta", "--state", str(store.state_dir)])
    assert result.exit_code == 2 and "restore" in result.output and result.output.count("\n") == 1
    _assert_worker_stops_with_one_line(hidden, store.state_dir, "restore")
    assert not store.path.exists()


def test_corrupt_database_is_one_clear_error_and_no_restart_loop(tmp_path, hidden):
    client, store, token = _server_with_a_submission(tmp_path, hidden)
    for suffix in ("-wal", "-shm"):
        (store.state_dir / (DB_NAME + suffix)).unlink(missing_ok=True)
    store.path.write_bytes(b"this is not an SQLite database" * 200)
    health = client.get("/api/health")
    assert health.status_code == 503 and "corrupt" in health.json()["reason"], health.text
    for route in ROUTES:
        reply = client.get(route, headers=_auth(token))
        if route in ("/api/leaderboard", "/api/submissions", "/api/submissions/1"):
            assert "corrupt" in _assert_clear_fault(reply)
        else:  # the upload page needs no database
            assert reply.status_code in (200, 503), (route, reply.status_code)
    with pytest.raises(StateError, match="not a database"):
        Store(store.state_dir)

    from mobiledenoise.cli.serve import _supervise_worker

    stop = threading.Event()
    supervisor = threading.Thread(target=_supervise_worker,
                                  args=(hidden, store.state_dir, None, stop), daemon=True)
    started = time.monotonic()
    supervisor.start()
    supervisor.join(timeout=60)
    alive = supervisor.is_alive()
    stop.set()
    assert not alive, "the supervisor kept restarting the worker"
    assert time.monotonic() - started < 30


def test_backup_is_a_consistent_copy_that_restores(tmp_path, hidden):
    client, store, token = _server_with_a_submission(tmp_path, hidden)
    backup = tmp_path / "backup.sqlite3"
    result = CliRunner().invoke(cli_app, ["serve", "backup", "--state", str(store.state_dir),
                                          "-o", str(backup)])
    assert result.exit_code == 0 and backup.is_file(), result.output
    again = CliRunner().invoke(cli_app, ["serve", "backup", "--state", str(store.state_dir),
                                         "-o", str(backup)])
    assert again.exit_code == 2 and "exists" in again.output
    _remove_database(store.state_dir)
    with pytest.raises(StateError):
        Store(store.state_dir)
    os.replace(backup, store.path)  # the documented restore: copy the backup into place
    restored = TestClient(create_app(store.state_dir, hidden, make_phases()))
    mine = restored.get("/api/submissions", headers=_auth(token))
    assert mine.status_code == 200 and [s["filename"] for s in mine.json()] == ["m.tflite"]
    digest = hashlib.sha256(GOOD).hexdigest()
    assert store.model_path(digest).read_bytes() == GOOD
