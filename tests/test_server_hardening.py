"""Issue 15, items 4-6: numbers and internals do not leak into answers and error logs, team
names cannot impersonate, and the pages and API carry the hardening headers. Models are tiny
crafted flatbuffers (`tflite_bombs`) so no TensorFlow is needed."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys

import pytest
import tflite_bombs as bombs
from fastapi.testclient import TestClient
from server_helpers import make_phases
from tflite_bombs import RGB
from typer.testing import CliRunner

from conftest import make_pair_folder
from mobiledenoise.cli import app as cli_app
from mobiledenoise.errors import UserError
from mobiledenoise.server.app import create_app
from mobiledenoise.server.store import Store
from mobiledenoise.server.worker import JOB_PREFIX, Worker

GOOD = bombs.relu_chain([(RGB, 0), (RGB, 0)])  # contract-keeping, GPU-delegate ops only


@pytest.fixture
def hidden(tmp_path):
    return make_pair_folder(tmp_path / "hidden" / "validation").parent


def _client(tmp_path, hidden, **phase_args):
    app = create_app(tmp_path / "state", hidden, make_phases(**phase_args))
    store: Store = app.state.store
    return TestClient(app), store, store.add_team("alpha")


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _queue(store: Store, content: bytes, phase: str = "validation") -> int:
    digest = hashlib.sha256(content).hexdigest()
    store.model_path(digest).write_bytes(content)
    return store.add_submission(store.teams()[0], phase, "m.tflite", digest, len(content), {},
                                per_day=99, max_total=None)


# ---- item 4: numbers and internals ---------------------------------------------------------

def test_huge_submission_id_is_404_not_500(tmp_path, hidden):
    client, _, token = _client(tmp_path, hidden)
    for sub_id in ("99999999999999999999999", str(2**63), "-5", "0"):
        reply = client.get(f"/api/submissions/{sub_id}", headers=_auth(token))
        assert reply.status_code == 404, (sub_id, reply.status_code, reply.text)


def test_error_logs_show_no_server_paths_or_operator_advice(tmp_path, hidden):
    store = Store(tmp_path / "state")
    store.add_team("alpha")
    gone = store.add_submission(store.teams()[0], "validation", "m.tflite", "f" * 64, 10, {},
                                per_day=9, max_total=None)  # its stored model file is missing
    Worker(store, hidden, make_phases()).run(max_idle_polls=1)
    log = store.submission(gone)["error_log"]
    assert "server fault" in log, log
    assert "check the path" not in log and str(tmp_path) not in log and "/" not in log.split("\n")[0]
    assert not re.search(r"/(tmp|work|usr|home|root)/", log), log


def test_memory_limit_kill_says_memory_and_gives_the_limit(tmp_path, hidden):
    store = Store(tmp_path / "state")
    store.add_team("alpha")
    big = [1, 4096, 4096, 3]  # 192 MiB per activation, three of them
    sub_id = _queue(store, bombs.relu_chain([(big, 0), (big, 0), (big, 0)]), phase="development")
    Worker(store, hidden, make_phases(active="development", memory_mb=500)).run(max_idle_polls=1)
    sub = store.submission(sub_id)
    first = sub["error_log"].splitlines()[0]
    assert sub["status"] == "failed" and "memory limit of 500 MiB" in first, sub["error_log"]
    assert "re-export it with builtin ops only" not in sub["error_log"]


def test_redact_hides_state_job_and_install_paths(tmp_path, hidden):
    from mobiledenoise.server.worker import redact

    state = tmp_path / "state"
    log = (f'File "{sys.prefix}/lib/python3.11/site-packages/x.py", line 1\n'
           f"reading {state}/models/abc.tflite in /tmp/{JOB_PREFIX}123-xyz/job.json")
    cleaned = redact(log, hidden, state)
    assert str(tmp_path) not in cleaned and sys.prefix not in cleaned and "/tmp/" not in cleaned
    assert "<state>/models/abc.tflite" in cleaned and "<job>" in cleaned


# ---- item 5: team names ------------------------------------------------------------------

@pytest.mark.parametrize(("existing", "newcomer", "phrase"), [
    ("alpha", "ALPHA", "ignoring case"),
    ("alpha", "\u0430lpha", "ASCII"),  # Cyrillic a
    ("evil", "\uff45\uff56\uff49\uff4c", "ignoring case"),  # fullwidth: NFKC -> evil
    ("team one", "Team One", "ignoring case"),
])
def test_confusable_team_names_are_refused(tmp_path, existing, newcomer, phrase):
    store = Store(tmp_path / "state")
    store.add_team(existing)
    with pytest.raises(UserError, match=phrase):
        store.add_team(newcomer)
    assert [t.name for t in store.teams()] == [existing]
    result = CliRunner().invoke(cli_app, ["serve", "add-team", newcomer, "--state", str(tmp_path / "state")])
    assert result.exit_code == 2 and result.output.startswith("Error: expected"), result.output


def test_fullwidth_name_is_stored_in_its_normal_form(tmp_path):
    store = Store(tmp_path / "state")
    store.add_team("\uff45\uff56\uff49\uff4c")
    assert [t.name for t in store.teams()] == ["evil"]


# ---- item 6: hardening ---------------------------------------------------------------------

def test_security_headers_and_page_csp_with_a_fresh_nonce(tmp_path, hidden):
    client, _, _ = _client(tmp_path, hidden)
    nonces = []
    for path in ("/", "/leaderboard", "/api-docs"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
        nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
        nonces.append(nonce)
        inline = re.findall(r"<(script|style)([^>]*)>", page.text)
        assert inline and all(f'nonce="{nonce}"' in attrs for _, attrs in inline), inline
    assert len(set(nonces)) == len(nonces)
    api = client.get("/api/health")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in api.headers["content-security-policy"]


def test_hidden_test_phase_shows_no_timings(tmp_path, hidden):
    client, store, token = _client(tmp_path, hidden, active="test")
    sub_id = client.post("/api/submissions", headers=_auth(token),
                         files={"file": ("m.tflite", GOOD)}).json()["id"]
    store.claim("w", 30)
    store.finish(sub_id, "w", result={"psnr": 37.0, "runtime_ms": 30.0})
    for view in (client.get(f"/api/submissions/{sub_id}", headers=_auth(token)).json(),
                 client.get("/api/submissions", headers=_auth(token)).json()[0]):
        assert view["scores_hidden"] and view["status"] == "scored"
        assert view["started_at"] is None and view["finished_at"] is None, view
        assert view["created_at"] is not None  # the participant's own upload time stays


def test_basic_auth_is_told_to_use_a_bearer_token(tmp_path, hidden):
    client, _, _ = _client(tmp_path, hidden)
    reply = client.get("/api/submissions", headers={"Authorization": "Basic YWxwaGE6eA=="})
    assert reply.status_code == 401
    detail = reply.json()["detail"]
    assert "Bearer" in detail and "'Basic'" in detail and "received none" not in detail


def test_file_name_with_a_trailing_newline_is_refused(tmp_path, hidden):
    from mobiledenoise.server.uploads import UploadRejected, display_name

    with pytest.raises(UploadRejected):
        display_name("model.tflite\n")
    client, store, token = _client(tmp_path, hidden)
    body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="model.tflite\n"\r\n'
            b"\r\n" + GOOD + b"\r\n--b--\r\n")  # a raw LF: httpx would escape it
    reply = client.post("/api/submissions", content=body, headers={
        **_auth(token), "content-type": "multipart/form-data; boundary=b"})
    assert reply.status_code == 400 and "plain file name" in reply.json()["detail"], reply.text
    assert store.submissions() == []


def test_worker_removes_job_folders_of_dead_workers_at_start(tmp_path, hidden):
    store = Store(tmp_path / "state")
    jobs = store.state_dir / "tmp" / "jobs"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = jobs / f"{JOB_PREFIX}{dead}-abc"
    alive = jobs / f"{JOB_PREFIX}1-def"  # pid 1 is alive: another worker's job
    for folder in (stale, alive):
        folder.mkdir(parents=True)
        (folder / "job.json").write_text("{}")
    Worker(store, hidden, make_phases()).run(max_idle_polls=1)
    assert not stale.exists() and alive.exists()
    store.add_team("alpha")
    sub_id = _queue(store, GOOD)
    Worker(store, hidden, make_phases()).run(max_idle_polls=1)
    assert store.submission(sub_id)["status"] in ("scored", "failed")
    assert sorted(p.name for p in jobs.iterdir()) == [alive.name]  # its own folder is gone too
