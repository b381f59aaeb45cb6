"""The evaluation worker: real end-to-end scoring (real op audit, real `evaluate_tflite`),
sandbox limits (a memory hog and a slow model fail only themselves), the queue's lease rules,
and the fault test — SIGKILL the worker mid-evaluation, restart it, scored exactly once."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml
from fastapi.testclient import TestClient
from server_helpers import FAST_LIMITS, make_phases, tflite_models

from conftest import make_pair_folder
from mobiledenoise.evaluate.metrics import final_score
from mobiledenoise.server.app import create_app
from mobiledenoise.server.store import MAX_ATTEMPTS, Store
from mobiledenoise.server.worker import Worker, redact


@pytest.fixture
def hidden(tmp_path):
    return make_pair_folder(tmp_path / "hidden" / "validation").parent


def queue_model(store: Store, team, name: str, phase: str = "validation") -> int:
    """Queue a model the way an accepted upload is queued (bypassing the upload checks)."""
    import hashlib

    content = tflite_models()[name].read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    shutil.copyfile(tflite_models()[name], store.model_path(digest))
    return store.add_submission(team, phase, f"{name}.tflite", digest, len(content), {},
                                per_day=100, max_total=None)


def test_upload_then_worker_scores_it_with_the_cli_evaluation(tmp_path, hidden):
    app = create_app(tmp_path / "state", hidden, make_phases())
    store: Store = app.state.store
    token = store.add_team("alpha")
    client = TestClient(app)
    content = tflite_models()["good"].read_bytes()
    sub_id = client.post("/api/submissions", headers={"Authorization": f"Bearer {token}"},
                         files={"file": ("unet.tflite", content)}).json()["id"]
    Worker(store, hidden, app.state.phases).run(max_idle_polls=1)
    result = client.get(f"/api/submissions/{sub_id}", headers={"Authorization": f"Bearer {token}"}).json()
    assert result["status"] == "scored", result["error_log"]
    assert result["n_images"] == 6 and 5 < result["psnr"] < 60 and 0 < result["ssim"] <= 1
    assert result["runtime_ms"] > 0
    assert result["score"] == pytest.approx(final_score(result["psnr"], result["runtime_ms"]))
    assert client.get("/api/leaderboard").json()["rows"][0]["submission_id"] == sub_id
    assert store.events(sub_id) == ["queued", "running", "scored"]


def test_development_phase_measures_runtime_only(tmp_path, hidden):
    store = Store(tmp_path / "state")
    sub_id = queue_model(store, _team(store), "good", phase="development")
    Worker(store, hidden, make_phases(active="development")).run(max_idle_polls=1)
    sub = store.submission(sub_id)
    assert sub["status"] == "scored" and sub["runtime_ms"] > 0
    assert sub["psnr"] is None and sub["n_images"] is None


def test_memory_hog_and_slow_model_fail_only_themselves(tmp_path, hidden):
    store = Store(tmp_path / "state")
    team = _team(store)
    hog, slow, good = (queue_model(store, team, n) for n in ("memory_hog", "slow", "good"))
    phases = make_phases(memory_mb=700, wall_seconds=8)
    started = time.monotonic()
    Worker(store, hidden, phases).run(max_idle_polls=1)
    assert time.monotonic() - started < 60
    hog_sub, slow_sub, good_sub = (store.submission(i) for i in (hog, slow, good))
    assert hog_sub["status"] == "failed" and "memory 700 MiB" in hog_sub["error_log"]
    assert slow_sub["status"] == "failed" and "wall-time limit of 8 s" in slow_sub["error_log"]
    assert good_sub["status"] == "scored", good_sub["error_log"]
    assert str(hidden) not in hog_sub["error_log"] + slow_sub["error_log"]


def test_cpu_time_limit_kills_a_busy_model(tmp_path, hidden):
    store = Store(tmp_path / "state")
    slow = queue_model(store, _team(store), "slow")
    Worker(store, hidden, make_phases(cpu_seconds=2, wall_seconds=60)).run(max_idle_polls=1)
    sub = store.submission(slow)
    assert sub["status"] == "failed" and "CPU-time limit of 2 s" in sub["error_log"], sub["error_log"]


def test_corrupt_stored_model_fails_with_a_readable_log(tmp_path, hidden):
    store = Store(tmp_path / "state")
    sub_id = queue_model(store, _team(store), "good")
    store.model_path(store.submission(sub_id)["sha256"]).write_bytes(b"garbage" * 10)
    Worker(store, hidden, make_phases()).run(max_idle_polls=1)
    sub = store.submission(sub_id)
    assert sub["status"] == "failed" and "LiteRT can run" in sub["error_log"]


def test_lost_lease_cannot_score_twice(tmp_path):
    store = Store(tmp_path / "state")
    team = _team(store)
    sub_id = store.add_submission(team, "validation", "m.tflite", "0" * 64, 1, {}, per_day=9, max_total=None)
    assert store.claim("host:1:a", lease_seconds=5)["id"] == sub_id
    assert store.recover(now=time.time() + 60) == [sub_id]  # lease ran out
    assert store.claim("host:2:b", lease_seconds=5)["attempts"] == 2
    assert not store.renew(sub_id, "host:1:a", 5)
    assert not store.finish(sub_id, "host:1:a", result={"psnr": 30.0})
    assert store.finish(sub_id, "host:2:b", result={"psnr": 31.0})
    assert not store.finish(sub_id, "host:2:b", result={"psnr": 32.0})
    assert store.submission(sub_id)["psnr"] == 31.0
    assert store.events(sub_id).count("scored") == 1


def test_repeatedly_interrupted_submission_fails_instead_of_looping(tmp_path):
    store = Store(tmp_path / "state")
    sub_id = store.add_submission(_team(store), "validation", "m.tflite", "0" * 64, 1, {},
                                  per_day=9, max_total=None)
    for attempt in range(MAX_ATTEMPTS):
        store.claim(f"host:{attempt}:x", lease_seconds=1)
        store.recover(now=time.time() + 60)
    sub = store.submission(sub_id)
    assert sub["status"] == "failed" and "interrupted" in sub["error_log"]


def test_redact_hides_paths_and_image_names(hidden):
    log = f"could not read {hidden}/validation/noisy/scene1_0.png for scene1_0"
    assert redact(log, hidden) == "could not read <hidden>/validation/noisy/<image>.png for <image>"


def test_killed_worker_restarts_and_scores_exactly_once(tmp_path, hidden):
    state = tmp_path / "state"
    store = Store(state)
    sub_id = queue_model(store, _team(store), "medium")  # a few seconds of evaluation
    phases_file = tmp_path / "phases.yaml"
    phases_file.write_text(yaml.safe_dump({
        "active": "validation", "limits": {**FAST_LIMITS, "runs": 10},
        "phases": [{"name": "validation", "kind": "validation", "split": "validation"}]}))
    command = [sys.executable, "-m", "mobiledenoise.server.worker", "--data", str(hidden),
               "--state", str(state), "--phases", str(phases_file)]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: store.submission(sub_id)["status"] == "running", 60)
    time.sleep(0.3)  # the evaluation child is starting up / evaluating
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert store.submission(sub_id)["status"] == "running"  # the dead worker still holds it
    second = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: store.submission(sub_id)["status"] in ("scored", "failed"), 90)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    sub = store.submission(sub_id)
    assert sub["status"] == "scored", sub["error_log"]
    assert sub["attempts"] == 2
    assert store.events(sub_id) == ["queued", "running", "requeued", "running", "scored"]


def _team(store: Store):
    store.add_team("alpha")
    return store.teams()[0]


def _wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


@pytest.mark.slow
def test_serve_command_killed_mid_evaluation_finishes_after_restart(tmp_path, hidden):
    """The one-command server (web + worker): SIGKILL it while a model is evaluated, start it
    again, and the accepted submission is scored once; the orphaned worker died with it."""
    import httpx
    from conftest import free_ports
    from typer.testing import CliRunner

    from mobiledenoise.cli import app as cli_app

    state, port = tmp_path / "state", free_ports(1)[0]
    token = CliRunner().invoke(cli_app, ["serve", "add-team", "alpha", "--state", str(state)]).output.strip()
    phases_file = tmp_path / "phases.yaml"
    phases_file.write_text(yaml.safe_dump({"active": "validation", "limits": {**FAST_LIMITS, "runs": 10}, "phases": [
        {"name": "validation", "kind": "validation", "split": "validation"}]}))
    command = [str(_venv_script("mobiledenoise")), "serve", "--data", str(hidden), "--state", str(state),
               "--phases", str(phases_file), "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    store = Store(state)

    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: _healthy(url), 60)
    reply = httpx.post(url + "/api/submissions", headers={"Authorization": f"Bearer {token}"},
                       files={"file": ("m.tflite", tflite_models()["medium"].read_bytes())})
    sub_id = reply.json()["id"]
    _wait_for(lambda: store.submission(sub_id)["status"] == "running", 60)
    worker_pid = int(store.submission(sub_id)["worker"].split(":")[1])
    first.send_signal(signal.SIGKILL)
    first.wait()
    _wait_for(lambda: not _alive(worker_pid), 10)  # PR_SET_PDEATHSIG took the worker down too

    second = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: store.submission(sub_id)["status"] == "scored", 90)
        assert httpx.get(url + "/api/leaderboard").json()["rows"][0]["submission_id"] == sub_id
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert store.events(sub_id).count("scored") == 1 and "requeued" in store.events(sub_id)


def _venv_script(name: str):
    from pathlib import Path

    return Path(sys.executable).parent / name


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url + "/api/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(pid: int) -> bool:
    from pathlib import Path

    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
