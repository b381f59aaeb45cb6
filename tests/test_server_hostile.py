"""The server under hostile uploads: alias bombs get a 422 with one line, while the web process
keeps answering /api/health within 1 s and its peak RSS stays under 300 MB (issue 15, item 1).
The server runs in its own process so its memory is its own; the bombs are built here."""

from __future__ import annotations

import threading
import time

import httpx
import tflite_bombs as bombs
from server_helpers import peak_rss_mb, server_process
from tflite_bombs import RGB

from conftest import make_pair_folder
from mobiledenoise.server.store import Store

BOMBS = [  # (name, content builder, phrase of the 422 reason)
    ("15k buffers -> one 16 MiB block", lambda: bombs.buffer_alias_bomb(15_000, 16 << 20),
     "stores each vector once"),
    ("15k buffers -> one 1 MiB block", lambda: bombs.buffer_alias_bomb(15_000, 1 << 20),
     "stores each vector once"),
    ("10k tensors sharing a 250k-entry shape", lambda: bombs.shape_alias_bomb(10_000, 250_000),
     "16 dimensions"),
    ("2M tensors sharing one shape", lambda: bombs.shape_alias_bomb(2_000_000, 4),
     "at most 20,000 tensors"),
    ("50 subgraphs -> one of 5k operators", lambda: bombs.subgraph_alias_bomb(50, 5_000),
     "stores each vector once"),
    ("12k distinct operators", lambda: bombs.many_operators(12_000), "at most 10,000 operators"),
    ("a 112 GiB tensor", lambda: bombs.relu_chain([(RGB, 0), ([1, 200_000, 50_000, 3], 0), (RGB, 0)]),
     "111.8 GiB"),
]


def test_alias_bombs_get_422_and_the_server_stays_responsive_and_small(tmp_path):
    hidden = make_pair_folder(tmp_path / "hidden" / "validation").parent
    state = tmp_path / "state"
    token = Store(state).add_team("alpha")
    files = [(name, build(), phrase) for name, build, phrase in BOMBS]
    with server_process(state, hidden) as (url, pid):
        baseline_mb = peak_rss_mb(pid)
        latencies: list[float] = []
        done = threading.Event()

        def poll_health() -> None:
            with httpx.Client(base_url=url, timeout=10) as client:
                while not done.is_set():
                    started = time.perf_counter()
                    assert client.get("/api/health").status_code == 200
                    latencies.append(time.perf_counter() - started)
                    time.sleep(0.05)

        poller = threading.Thread(target=poll_health, daemon=True)
        poller.start()
        replies = []
        try:
            with httpx.Client(base_url=url, timeout=120) as client:
                for name, content, phrase in files:
                    started = time.perf_counter()
                    reply = client.post("/api/submissions", headers={"Authorization": f"Bearer {token}"},
                                        files={"file": ("bomb.tflite", content)})
                    replies.append((name, reply, phrase, time.perf_counter() - started))
        finally:
            # Refused bombs can all return within a few polls on a quick machine; poll on to at
            # least 5, so the health check below always has a sample (it once had 4).
            deadline = time.monotonic() + 10
            while len(latencies) < 5 and poller.is_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            done.set()
            poller.join(timeout=15)
        peak_mb = peak_rss_mb(pid)

    for name, reply, phrase, _ in replies:
        assert reply.status_code == 422, (name, reply.status_code, reply.text[:300])
        detail = reply.json()["detail"]
        assert phrase in detail and "\n" not in detail, (name, detail)
    assert len(latencies) >= 5 and max(latencies) < 1.0, sorted(latencies)[-5:]
    assert peak_mb < 300, f"peak RSS {peak_mb:.0f} MB (baseline {baseline_mb:.0f} MB)"
    print(f"\nbombs: {[(n, round(t, 2)) for n, _, _, t in replies]}; health max "
          f"{max(latencies) * 1000:.0f} ms over {len(latencies)} polls; RSS peak {peak_mb:.0f} MB "
          f"(baseline {baseline_mb:.0f} MB)")
    assert Store(state).submissions() == []
