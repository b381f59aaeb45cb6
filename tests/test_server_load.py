"""Load test on loopback: 20 concurrent uploads to a real uvicorn server lose nothing.

Every upload gets 202 and a distinct id, every id is a queued row in SQLite with its model
file stored, and the whole burst finishes within a bound. The figures are printed (-s)."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from server_helpers import live_server, make_phases, tflite_models

from conftest import make_pair_folder
from mobiledenoise.server.app import create_app

UPLOADS = 20
TEAMS = 4


def test_twenty_concurrent_uploads_lose_nothing(tmp_path):
    hidden = make_pair_folder(tmp_path / "hidden" / "validation").parent
    app = create_app(tmp_path / "state", hidden, make_phases(per_day=UPLOADS))
    store = app.state.store
    tokens = [store.add_team(f"team{i}") for i in range(TEAMS)]
    content = tflite_models()["good"].read_bytes()

    with live_server(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        def one(i: int) -> tuple[int, dict, float]:
            start = time.perf_counter()
            reply = client.post("/api/submissions", files={"file": (f"m{i}.tflite", content)},
                                headers={"Authorization": f"Bearer {tokens[i % TEAMS]}"})
            return reply.status_code, reply.json(), time.perf_counter() - start

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=UPLOADS) as pool:
            replies = list(pool.map(one, range(UPLOADS)))
        elapsed = time.perf_counter() - started
        assert client.get("/api/health").json()["queued"] == UPLOADS

    assert [status for status, _, _ in replies] == [202] * UPLOADS, replies
    ids = {body["id"] for _, body, _ in replies}
    assert len(ids) == UPLOADS
    rows = store.submissions()
    assert {r["id"] for r in rows} == ids and {r["status"] for r in rows} == {"queued"}
    assert {r["filename"] for r in rows} == {f"m{i}.tflite" for i in range(UPLOADS)}
    assert all(store.model_path(r["sha256"]).read_bytes() == content for r in rows)
    assert all(store.events(i) == ["queued"] for i in ids)
    latencies = sorted(t for _, _, t in replies)
    print(f"\n{UPLOADS} concurrent uploads of {len(content)} B: {elapsed:.2f} s total, "
          f"median {statistics.median(latencies) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")
    assert elapsed < 60


def test_load_benchmark_script_runs_with_bombs_and_writes_its_figures(tmp_path):
    """`benchmarks/server_load.py` at a tiny scale: every bomb 422, nothing lost, files written."""
    import importlib.util
    import json
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "server_load.py"
    spec = importlib.util.spec_from_file_location("server_load", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = module.main(["--teams", "2", "--uploads-per-team", "1", "--reads", "12", "--bombs", "5",
                        "--concurrency", "4", "--model", str(tflite_models()["good"]),
                        "--out", str(tmp_path)])
    result = json.loads(next(tmp_path.glob("server_load-*.json")).read_text())
    assert code == 0 and result["errors"] == 0 and result["lost_submissions"] == 0, result
    assert result["uploads_accepted"] == 2
    assert result["routes"]["POST /api/submissions (bomb)"]["n"] == 5
    assert {"p50", "p95", "p99"} <= set(result["routes"]["/api/health"])
    assert "| route | n | p50 ms |" in next(tmp_path.glob("server_load-*.md")).read_text()
