"""HTTP tests of the challenge server (in-process TestClient): every endpoint, auth, the
bad-upload corpus, limits, phases and the `serve` CLI. Evaluation itself is in
test_server_worker.py; here results are written straight into the store where needed."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from fastapi.testclient import TestClient
from server_helpers import make_phases, tflite_models
from typer.testing import CliRunner

from conftest import make_pair_folder
from mobiledenoise.cli import app as cli_app
from mobiledenoise.evaluate.metrics import final_score
from mobiledenoise.server.app import create_app
from mobiledenoise.server.store import Store
from mobiledenoise.server.uploads import UploadLimits

CAP = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def models():
    return {name: path.read_bytes() for name, path in tflite_models().items()}


def _server(tmp_path, **phase_args):
    hidden = make_pair_folder(tmp_path / "hidden" / "validation").parent
    app = create_app(tmp_path / "state", hidden, make_phases(**phase_args),
                     limits=UploadLimits(max_bytes=CAP))
    client = TestClient(app)
    store: Store = app.state.store
    tokens = {name: store.add_team(name) for name in ("alpha", "beta")}
    return client, store, tokens


@pytest.fixture
def server(tmp_path):
    return _server(tmp_path)


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def upload(client, token, content: bytes, name: str = "model.tflite"):
    return client.post("/api/submissions", headers=auth(token),
                       files={"file": (name, content, "application/octet-stream")})


def score(store: Store, submission_id: int, psnr: float, runtime_ms: float) -> None:
    """Play the worker: claim the row and record figures."""
    claimed = store.claim("test-worker", 30)
    assert claimed["id"] == submission_id
    store.finish(submission_id, "test-worker", result={
        "psnr": psnr, "ssim": 0.9, "runtime_ms": runtime_ms, "n_images": 6,
        "score": final_score(psnr, runtime_ms)})


def test_upload_is_queued_and_stored_content_addressed(server, models):
    client, store, tokens = server
    reply = upload(client, tokens["alpha"], models["good"])
    assert reply.status_code == 202, reply.text
    assert reply.json()["status"] == "queued"
    sub_id = reply.json()["id"]
    status = client.get(f"/api/submissions/{sub_id}", headers=auth(tokens["alpha"])).json()
    assert status["status"] == "queued" and status["filename"] == "model.tflite"
    assert status["psnr"] is None and status["team"] == "alpha"
    digest = hashlib.sha256(models["good"]).hexdigest()
    assert store.model_path(digest).read_bytes() == models["good"]
    again = upload(client, tokens["alpha"], models["good"], "copy.tflite")
    assert again.status_code == 202 and again.json()["id"] != sub_id
    assert sorted(p.name for p in store.models_dir.iterdir()) == [f"{digest}.tflite"]
    mine = client.get("/api/submissions", headers=auth(tokens["alpha"])).json()
    assert [s["id"] for s in mine] == [again.json()["id"], sub_id]


def test_tokens_and_ownership(server, models):
    client, store, tokens = server
    assert client.post("/api/submissions", files={"file": ("m.tflite", models["good"])}).status_code == 401
    no_token = client.get("/api/submissions/1")
    assert no_token.status_code == 401 and "Bearer" in no_token.json()["detail"]
    assert no_token.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/submissions", headers=auth("not-a-token")).status_code == 401
    sub_id = upload(client, tokens["alpha"], models["good"]).json()["id"]
    assert client.get(f"/api/submissions/{sub_id}", headers=auth(tokens["beta"])).status_code == 404
    assert client.get("/api/submissions/999", headers=auth(tokens["alpha"])).status_code == 404
    assert client.get("/api/submissions", headers=auth(tokens["beta"])).json() == []
    # only hashes are stored
    assert tokens["alpha"] not in store.path.read_bytes().decode("latin-1")


def _corpus(models) -> list[tuple[str, bytes, str, int, str]]:
    good = models["good"]
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    rng = np.random.default_rng(0)
    return [  # (case, content, file name, status, phrase in the message)
        ("empty", b"", "m.tflite", 400, "empty file"),
        ("random bytes", rng.bytes(4096), "m.tflite", 422, "TFLite"),
        ("truncated", good[: len(good) // 2], "m.tflite", 422, "truncated"),
        ("png named .tflite", png, "photo.tflite", 422, "PNG"),
        ("wrong channels", models["wrong_channels"], "m.tflite", 422, "1xHxWx3"),
        ("wrong rank", models["wrong_rank"], "m.tflite", 422, "1xHxWx3"),
        ("enormous shapes", models["enormous"], "m.tflite", 422, "20000x20000"),
        ("unsupported op", models["unsupported_op"], "m.tflite", 422, "GPU delegate"),
        ("oversized", rng.bytes(CAP + 1000), "m.tflite", 413, "at most 2 MiB"),
        ("path traversal", good, "../../evil.tflite", 400, "plain file name"),
        ("absolute path", good, "/etc/cron.d/x.tflite", 400, "plain file name"),
        ("hidden name", good, ".tflite", 400, "plain file name"),
    ]


def test_bad_upload_corpus_gets_clear_errors_and_server_keeps_serving(server, models, tmp_path):
    client, store, tokens = server
    for case, content, name, status, phrase in _corpus(models):
        reply = upload(client, tokens["alpha"], content, name)
        assert reply.status_code == status, (case, reply.text)
        assert phrase in reply.json()["detail"], (case, reply.json())
        assert client.get("/api/health").json()["status"] == "ok", case
    assert store.submissions() == []
    assert list(store.models_dir.iterdir()) == []
    assert not (tmp_path / "evil.tflite").exists() and not (tmp_path.parent / "evil.tflite").exists()
    assert list((store.state_dir / "tmp").iterdir()) == []  # no temporary file left behind
    unsupported = upload(client, tokens["alpha"], models["unsupported_op"]).json()
    assert "FLOOR_MOD" in unsupported["log"]


def test_malformed_requests(server, models):
    client, _, tokens = server
    wrong_field = client.post("/api/submissions", headers=auth(tokens["alpha"]),
                              files={"model": ("m.tflite", models["good"])})
    assert wrong_field.status_code == 422 and "'file'" in wrong_field.json()["detail"]
    not_multipart = client.post("/api/submissions", headers=auth(tokens["alpha"]), content=models["good"])
    assert not_multipart.status_code == 415
    declared_huge = client.post("/api/submissions", content=b"x",
                                headers={**auth(tokens["alpha"]), "content-length": str(10 * CAP),
                                         "content-type": "multipart/form-data; boundary=x"})
    assert declared_huge.status_code == 413

    def chunked_body():  # no Content-Length: the cap is enforced while the body streams
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="m.tflite"\r\n\r\n'
        for _ in range(CAP // 65536 + 2):
            yield bytes(65536)
        yield b"\r\n--x--\r\n"

    streamed = client.post("/api/submissions", content=chunked_body(),
                           headers={**auth(tokens["alpha"]), "content-type": "multipart/form-data; boundary=x"})
    assert streamed.status_code == 413 and "at most 2 MiB" in streamed.json()["detail"]


def test_daily_limit_counts_only_non_failed(tmp_path, models):
    client, store, tokens = _server(tmp_path, per_day=2)
    first = upload(client, tokens["alpha"], models["good"]).json()["id"]
    assert upload(client, tokens["alpha"], models["good"]).status_code == 202
    limited = upload(client, tokens["alpha"], models["good"])
    assert limited.status_code == 429 and "per day" in limited.json()["detail"]
    assert upload(client, tokens["beta"], models["good"]).status_code == 202  # per team
    store.claim("w", 30)
    store.finish(first, "w", error_log="crashed")
    assert upload(client, tokens["alpha"], models["good"]).status_code == 202


def test_leaderboard_ranks_best_per_team_by_final_score(server, models):
    client, store, tokens = server
    ids = [upload(client, tokens[t], models["good"]).json()["id"] for t in ("alpha", "alpha", "beta")]
    score(store, ids[0], 36.0, 20.0)
    score(store, ids[1], 37.5, 39.0)  # alpha's best: 53.99 like NOAHTCV in Table 1
    score(store, ids[2], 36.3, 11.0)
    board = client.get("/api/leaderboard").json()
    assert board["phase"] == "validation" and not board["scores_hidden"]
    rows = board["rows"]
    assert [(r["rank"], r["team"], r["submission_id"]) for r in rows] == [(1, "alpha", ids[1]), (2, "beta", ids[2])]
    assert rows[0]["score"] == pytest.approx(final_score(37.5, 39.0))
    assert rows[0]["size_kb"] == round(len(models["good"]) / 1024)
    page = client.get("/leaderboard")
    assert page.status_code == 200 and "<td>alpha</td>" in page.text and "leaderboard.png" in page.text
    plot = client.get("/leaderboard.png")
    assert plot.headers["content-type"] == "image/png" and plot.content[:4] == b"\x89PNG"
    assert client.get("/api/leaderboard?phase=nope").status_code == 404


def test_test_phase_hides_scores_until_published(tmp_path, models):
    client, store, tokens = _server(tmp_path, active="test")
    sub_id = upload(client, tokens["alpha"], models["good"]).json()["id"]
    final = upload(client, tokens["alpha"], models["good"])
    assert final.status_code == 429 and "final" in final.json()["detail"]
    score(store, sub_id, 37.0, 30.0)
    status = client.get(f"/api/submissions/{sub_id}", headers=auth(tokens["alpha"])).json()
    assert status["status"] == "scored" and status["scores_hidden"]
    assert all(status[k] is None for k in ("psnr", "ssim", "runtime_ms", "score", "n_images"))
    board = client.get("/api/leaderboard").json()
    assert board["scores_hidden"] and board["rows"] == []
    assert "hidden until" in client.get("/leaderboard").text
    result = CliRunner().invoke(cli_app, ["serve", "publish", "--state", str(store.state_dir)])
    assert result.exit_code == 0, result.output
    status = client.get(f"/api/submissions/{sub_id}", headers=auth(tokens["alpha"])).json()
    assert status["psnr"] == pytest.approx(37.0) and not status["scores_hidden"]
    assert client.get("/api/leaderboard").json()["rows"][0]["team"] == "alpha"


def test_pages_phases_and_no_route_to_hidden_data(server, models):
    client, _, tokens = server
    index = client.get("/")
    assert index.status_code == 200 and 'type="file"' in index.text and "validation" in index.text
    assert "POST /api/submissions" in client.get("/api-docs").text
    phases = client.get("/api/phases").json()
    assert phases["active"] == "validation" and [p["name"] for p in phases["phases"]] == [
        "development", "validation", "test"]
    routes = set(client.get("/openapi.json").json()["paths"])
    assert routes == {"/api/health", "/api/phases", "/api/submissions",
                      "/api/submissions/{submission_id}", "/api/leaderboard"}
    for path in ("/hidden/validation/noisy/scene0_0.png", "/validation/clean/scene0_0.png",
                 "/static/../hidden", "/docs", "/models"):
        assert client.get(path).status_code == 404, path
    upload(client, tokens["alpha"], models["good"])
    everything = "".join(client.get(p, headers=auth(tokens["alpha"])).text for p in (
        "/", "/leaderboard", "/api/leaderboard", "/api/submissions", "/api/submissions/1"))
    assert "scene0" not in everything and str(client.app.state.data_dir) not in everything


def test_cli_add_team_prints_a_working_token(tmp_path, models):
    state = tmp_path / "state"
    runner = CliRunner()
    created = runner.invoke(cli_app, ["serve", "add-team", "gamma", "--state", str(state)])
    assert created.exit_code == 0, created.output
    token = created.output.strip()
    assert len(token) >= 40
    duplicate = runner.invoke(cli_app, ["serve", "add-team", "gamma", "--state", str(state)])
    assert duplicate.exit_code == 2 and "exists" in duplicate.output
    bad_name = runner.invoke(cli_app, ["serve", "add-team", "../x", "--state", str(state)])
    assert bad_name.exit_code == 2 and "team name" in bad_name.output
    client = TestClient(create_app(state, make_pair_folder(tmp_path / "h" / "validation").parent,
                                   make_phases()))
    assert upload(client, token, models["good"]).status_code == 202


def test_cli_serve_errors(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(cli_app, ["serve", "--state", str(tmp_path / "s")])
    assert missing.exit_code == 2 and "--data" in missing.output
    no_data = runner.invoke(cli_app, ["serve", "--data", str(tmp_path / "nothing"), "--state", str(tmp_path / "s")])
    assert no_data.exit_code == 2 and "hidden pairs" in no_data.output
    no_state = runner.invoke(cli_app, ["serve", "publish", "--state", str(tmp_path / "nope")])
    assert no_state.exit_code == 2 and "server.sqlite3" in no_state.output
    Store(tmp_path / "s")
    typo = runner.invoke(cli_app, ["serve", "publish", "--state", str(tmp_path / "s"), "--phase", "tset"])
    assert typo.exit_code == 2 and "phase" in typo.output
    assert os.path.exists(tmp_path / "s" / "server.sqlite3")
