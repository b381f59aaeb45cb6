"""Load test of the challenge server on loopback, with alias-bomb uploads in the mix.

    python benchmarks/server_load.py [--teams 30] [--uploads-per-team 3] [--reads 2400]
                                     [--bombs 10] [--concurrency 16] [--model M.tflite]

Method (documented choices):
- The server runs as `create_app` under uvicorn in its OWN process (no worker: this measures
  the web tier, whose answers and memory are what a participant can attack), over a fresh
  state folder; its peak RSS is read from /proc/PID/status (VmHWM).
- `teams` teams upload `uploads-per-team` copies of a real model (default: the shipped FP32
  file, 541 KiB, which passes the whole upload check); a separate team uploads `bombs` hostile
  files cycling through the crafted alias bombs of `tests/tflite_bombs.py` (one buffer block or
  one operator list referenced thousands of times, a 250k-dimension shape, a 112 GiB tensor).
- `reads` GETs are spread evenly over /api/health, /api/leaderboard, /api/phases, /leaderboard
  (HTML), /api/submissions and /api/submissions/{id} (with a team token).
- One request per route warms the server up first (not counted). Every request is then
  shuffled into one list and sent by `concurrency` threads, each with its own HTTP connection. An error is any answer other than the expected one (202 for an upload, 422
  for a bomb, 200 for a read, 404 allowed for an id not uploaded yet) or a failed request.
- Lost submissions: 202 answers whose id is not a queued row with its model file on disk.
Writes benchmarks/results/server_load-<hostname>.json and .md (percentiles in ms).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mobiledenoise.errors import ScriptParser

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
READ_ROUTES = ("/api/health", "/api/leaderboard", "/api/phases", "/leaderboard",
               "/api/submissions", "/api/submissions/{id}")


def parse_args(argv=None) -> argparse.Namespace:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=30)
    parser.add_argument("--uploads-per-team", type=int, default=3)
    parser.add_argument("--reads", type=int, default=2400)
    parser.add_argument("--bombs", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--model", type=Path, default=ROOT / "src/mobiledenoise/weights/fast_fp32.tflite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def bomb_files() -> list[tuple[str, bytes]]:
    sys.path.insert(0, str(ROOT / "tests"))
    import tflite_bombs as bombs

    rgb = bombs.RGB
    return [("buffer alias 15k x 1 MiB", bombs.buffer_alias_bomb(15_000, 1 << 20)),
            ("shape of 250k dims x 10k tensors", bombs.shape_alias_bomb(10_000, 250_000)),
            ("subgraph alias 50 x 5k ops", bombs.subgraph_alias_bomb(50, 5_000)),
            ("12k distinct operators", bombs.many_operators(12_000)),
            ("112 GiB tensor", bombs.relu_chain([(rgb, 0), ([1, 200_000, 50_000, 3], 0), (rgb, 0)])),
            ("buffer alias 15k x 16 MiB", bombs.buffer_alias_bomb(15_000, 16 << 20))]


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"n": len(ordered), "p50": round(statistics.median(ordered) * 1000, 1),
            "p95": round(pick(0.95), 1), "p99": round(pick(0.99), 1),
            "max": round(ordered[-1] * 1000, 1)}


def run(args) -> dict:
    import httpx
    from mobiledenoise.errors import UserError
    from mobiledenoise.server.store import Store

    sys.path.insert(0, str(ROOT / "tests"))
    from server_helpers import peak_rss_mb, server_process

    if not args.model.is_file():
        raise UserError(f"expected a .tflite model to upload, received {args.model} which does "
                        "not exist; pass --model")
    content = args.model.read_bytes()
    bombs = bomb_files()
    work = Path(tempfile.mkdtemp(prefix="mdn-load-"))
    state, hidden = work / "state", work / "hidden"
    (hidden / "validation").mkdir(parents=True)
    store = Store(state)
    tokens = [store.add_team(f"team{i}") for i in range(args.teams)]
    mallory = store.add_team("mallory")

    rng = random.Random(args.seed)
    requests = [("upload", i % args.teams) for i in range(args.teams * args.uploads_per_team)]
    requests += [("bomb", i % len(bombs)) for i in range(args.bombs)]
    requests += [(READ_ROUTES[i % len(READ_ROUTES)], i % args.teams) for i in range(args.reads)]
    rng.shuffle(requests)

    timings: dict[str, list[float]] = {}
    errors: list[str] = []
    accepted: list[int] = []
    slowest: list[tuple[int, str, float]] = []  # (ms, route, seconds into the run)
    lock = threading.Lock()
    local = threading.local()

    with server_process(state, hidden) as (url, pid):
        baseline_mb = peak_rss_mb(pid)

        def client() -> httpx.Client:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=url, timeout=120)
            return local.client

        def one(item) -> None:
            kind, index = item  # a team index, or a bomb index for "bomb"
            token = mallory if kind == "bomb" else tokens[index]
            headers = {"Authorization": f"Bearer {token}"}
            route, expected = kind, (200,)
            client()  # a thread's first Client (TLS context set-up) is not the server's time
            started = time.perf_counter()
            try:
                if kind == "upload":
                    reply = client().post("/api/submissions", headers=headers,
                                          files={"file": (f"t{index}.tflite", content)})
                    route, expected = "POST /api/submissions", (202,)
                elif kind == "bomb":
                    reply = client().post("/api/submissions", headers=headers,
                                          files={"file": ("bomb.tflite", bombs[index][1])})
                    route, expected = "POST /api/submissions (bomb)", (422,)
                else:
                    path = kind.replace("{id}", str(rng.randint(1, max(1, len(accepted)))))
                    expected = (200, 404) if "{id}" in kind else (200,)
                    reply = client().get(path, headers=headers)
                elapsed = time.perf_counter() - started
                ok = reply.status_code in expected
                with lock:
                    timings.setdefault(route, []).append(elapsed)
                    slowest.append((round(elapsed * 1000), route, round(started - run_start, 2)))
                    if kind == "upload" and reply.status_code == 202:
                        accepted.append(reply.json()["id"])
                    if not ok:
                        errors.append(f"{route}: {reply.status_code} {reply.text[:120]}")
            except Exception as exc:  # noqa: BLE001 - every failure is counted, not raised
                with lock:
                    errors.append(f"{route}: {type(exc).__name__}: {exc}")

        load_start = round(os.getloadavg()[0], 1)  # a busy VM stretches every figure
        with httpx.Client(base_url=url, timeout=120) as warm:  # first-request costs, not counted
            for route in READ_ROUTES:
                warm.get(route.replace("{id}", "1"), headers={"Authorization": f"Bearer {tokens[0]}"})
            warm.post("/api/submissions", headers={"Authorization": f"Bearer {mallory}"},
                      files={"file": ("warm.tflite", bombs[0][1])})
        run_start = started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            list(pool.map(one, requests))
        wall = time.perf_counter() - started
        peak_mb = peak_rss_mb(pid)

    rows = {r["id"]: r for r in store.submissions()}
    lost = [i for i in accepted if i not in rows or rows[i]["status"] != "queued"
            or not store.model_path(rows[i]["sha256"]).is_file()]
    return {"host": socket.gethostname(), "wall_s": round(wall, 1),
            "load_average_1m": {"start": load_start, "end": round(os.getloadavg()[0], 1)},
            "niceness": os.nice(0),
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "model_bytes": len(content), "bombs": [name for name, _ in bombs],
            "requests": len(requests), "uploads_accepted": len(accepted),
            "lost_submissions": len(lost), "errors": len(errors), "error_samples": errors[:10],
            "slowest": [{"ms": ms, "route": r, "at_s": at} for ms, r, at in sorted(slowest)[-8:][::-1]],
            "server_rss_mb": {"baseline": round(baseline_mb), "peak": round(peak_mb)},
            "routes": {route: percentiles(values) for route, values in sorted(timings.items())}}


def to_markdown(result: dict) -> str:
    s = result["settings"]
    lines = [f"Challenge server load on loopback ({result['host']}, one uvicorn process, no worker): "
             f"{s['teams']} teams x {s['uploads_per_team']} uploads of a {result['model_bytes'] / 1024:.0f} KiB "
             f"model, {s['bombs']} alias-bomb uploads, {s['reads']} reads; {s['concurrency']} "
             f"concurrent clients; {result['wall_s']} s in all; 1-minute load average "
             f"{result['load_average_1m']['start']} at start, {result['load_average_1m']['end']} at "
             f"the end, server and clients at niceness {result['niceness']} (other jobs share the "
             "machine's 2 cores).", "",
             "| route | n | p50 ms | p95 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
    for route, p in result["routes"].items():
        lines.append(f"| {route} | {p['n']} | {p['p50']} | {p['p95']} | {p['p99']} | {p['max']} |")
    lines += ["", f"Errors: {result['errors']}. Uploads accepted: {result['uploads_accepted']}; "
              f"lost submissions: {result['lost_submissions']}. Server RSS: "
              f"{result['server_rss_mb']['baseline']} MB at start, {result['server_rss_mb']['peak']} MB peak.",
              "", "Bombs (each must get 422): " + "; ".join(result["bombs"]) + "."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"server_load-{result['host']}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(to_markdown(result))
    print(to_markdown(result))
    return 1 if result["errors"] or result["lost_submissions"] else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    from mobiledenoise.errors import run_script

    run_script(main)
