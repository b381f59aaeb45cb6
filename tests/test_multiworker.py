"""Multi-worker training with two real `mobiledenoise train` processes on 127.0.0.1 (TF_CONFIG):
they train like one process with the same global batch, only the chief writes, and a killed
worker stops the other with one line; both commands run again resume exactly."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import free_ports

pytestmark = pytest.mark.slow

STEPS = 60
ARGS = ["train", "--model", "unet", "--preset", "tiny", "--steps", str(STEPS), "--patch-size", "16",
        "--batch-size", "4", "--quiet", "--set", "checkpoint_every=4", "--set", "log_every=1",
        "--set", "deterministic=true", "--set", "val_every=30", "--set", "val_crop=32"]
# Replicas average per-shard gradients where one process averages over the whole batch: the
# same sums in another order, so the curves agree to float32 rounding, not bit for bit.
CURVE_RTOL = 1e-4


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "mobiledenoise.cli.__main__", *args]


def _start_workers(data: Path, outs: list[Path]) -> list[subprocess.Popen]:
    """Two workers (index 0 is the chief), each with its own TF_CONFIG and --out."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(len(outs))]}
    procs = []
    for index, out in enumerate(outs):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        procs.append(subprocess.Popen(
            _cli(*ARGS, "--data", str(data), "--distribute", "multiworker", "--set",
                 "worker_timeout_s=30", "--out", str(out)),
            env={**os.environ, "TF_CONFIG": json.dumps(tf_config)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def _finish(procs: list[subprocess.Popen], timeout: float = 900) -> list[tuple[int, str, str]]:
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        results.append((proc.returncode, out, err))
    return results


def _curve(run: Path) -> np.ndarray:
    with open(run / "log.csv") as f:
        return np.array([(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f)])


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from conftest import make_pair_folder

    return make_pair_folder(tmp_path_factory.mktemp("mw") / "pairs")


@pytest.fixture(scope="module")
def single_process_curve(data, tmp_path_factory) -> np.ndarray:
    out = tmp_path_factory.mktemp("single") / "run"
    subprocess.run(_cli(*ARGS, "--data", str(data), "--out", str(out)), check=True,
                   capture_output=True, timeout=900)
    return _curve(out)


def test_two_workers_train_like_one_process_and_only_the_chief_writes(data, single_process_curve,
                                                                       tmp_path):
    chief_out, worker_out = tmp_path / "run", tmp_path / "worker1"
    results = _finish(_start_workers(data, [chief_out, worker_out]))
    for code, out, err in results:
        assert code == 0, err[-3000:]
        assert f"to step {STEPS}" in out and "2 replica(s)" in out
    assert not worker_out.exists()  # the non-chief wrote nothing, not even its folder
    assert {p.name for p in chief_out.iterdir()} == {
        "config.yaml", "model.json", "best.weights.h5", "checkpoint", "log.csv", "tensorboard"}
    curve = _curve(chief_out)
    np.testing.assert_array_equal(curve[:, 0], single_process_curve[:, 0])
    np.testing.assert_allclose(curve[:, 1], single_process_curve[:, 1], rtol=CURVE_RTOL)


def test_a_killed_worker_stops_the_other_and_both_resume(data, single_process_curve, tmp_path):
    run = tmp_path / "run"  # storage both workers read; only the chief writes
    chief, worker = _start_workers(data, [run, run])
    state = run / "checkpoint" / "state.json"
    deadline = time.time() + 600
    while not state.exists() and time.time() < deadline and chief.poll() is None:
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    began = time.time()
    (code, _, err), _ = _finish([chief, worker], timeout=300)
    assert code == 2, err[-3000:]  # it stopped on its own, within the collective timeout
    assert time.time() - began < 300
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: expected every worker to keep training")
    saved = json.loads(state.read_text())["step"]
    assert 0 < saved < STEPS

    results = _finish(_start_workers(data, [run, run]))
    for code, out, err in results:
        assert code == 0, err[-3000:]
        assert f"resumed from {saved}" in out
    curve = _curve(run)
    np.testing.assert_array_equal(curve[:, 0], single_process_curve[:, 0])
    np.testing.assert_allclose(curve[:, 1], single_process_curve[:, 1], rtol=CURVE_RTOL)


def test_a_worker_that_never_starts_stops_the_chief_with_one_line(data, tmp_path):
    """TensorFlow's cluster start waits for a missing worker forever and ignores SIGTERM there;
    the rendezvous before it (train/rendezvous.py) ends the wait at worker_timeout_s."""
    port, silent_port = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}", f"127.0.0.1:{silent_port}"]}
    tf_config = {"cluster": cluster, "task": {"type": "worker", "index": 0}}
    out = tmp_path / "run"
    began = time.time()
    result = subprocess.run(
        _cli(*ARGS, "--data", str(data), "--distribute", "multiworker", "--set",
             "worker_timeout_s=3", "--out", str(out)),
        env={**os.environ, "TF_CONFIG": json.dumps(tf_config)}, capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"no answer from 127.0.0.1:{silent_port};" in lines[0]
    assert time.time() - began < 100  # the 3 s deadline and the start-up, not a hang
    assert not out.exists()
