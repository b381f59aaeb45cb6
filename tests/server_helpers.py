"""Helpers for the server tests: tiny `.tflite` models, a phases file, a live uvicorn server.

TensorFlow is imported only when a test asks for a model (`tflite_models()`); the files are
converted once into one temporary folder and reused by every server test file of the session.
`live_server` runs the real app under uvicorn on a free 127.0.0.1 port in a thread.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import threading
import time
from pathlib import Path

from conftest import free_ports

from mobiledenoise.server.phases import Phases, parse_phases

FAST_LIMITS = {"cpu_seconds": 60, "wall_seconds": 60, "memory_mb": 2048, "runs": 2, "threads": 1}

GOOD_SIZE = (64, 64)  # the tiny U-Net's fixed input; hidden test images are tiled with it


def _convert(model) -> bytes:
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def _single_layer(shape, layer, batch_size=1):
    import keras

    inputs = keras.Input(shape=shape, batch_size=batch_size)
    return keras.Model(inputs, layer(inputs))


def _floor_mod_model():
    import keras
    import tensorflow as tf

    class FloorMod(keras.layers.Layer):
        def call(self, x):
            return tf.math.floormod(x, 0.5)

    return _single_layer((16, 16, 3), FloorMod())


def _wide_model(channels: int, size: int, depth: int = 1):
    """1×1 convs through `channels` feature maps: a huge activation or a lot of compute."""
    import keras

    inputs = keras.Input(shape=(size, size, 3), batch_size=1)
    x = keras.layers.Conv2D(channels, 1)(inputs)
    for _ in range(depth - 1):
        x = keras.layers.Conv2D(channels, 3, padding="same")(x)
    return keras.Model(inputs, keras.layers.Add()([inputs, keras.layers.Conv2D(3, 1)(x)]))


@functools.cache
def tflite_models() -> dict[str, Path]:
    """name -> .tflite path: good, unsupported_op, wrong_channels, wrong_rank, enormous,
    memory_hog (a 1 GiB activation), slow (seconds per run), medium (~0.1 s per run)."""
    import keras

    from mobiledenoise.models import build_model

    keras.utils.set_random_seed(0)
    builders = {
        "good": lambda: build_model("unet", preset="tiny", input_shape=(*GOOD_SIZE, 3), batch_size=1),
        "unsupported_op": _floor_mod_model,
        "wrong_channels": lambda: _single_layer((16, 16, 1), keras.layers.Conv2D(1, 3, padding="same")),
        "wrong_rank": lambda: _single_layer((16, 3), keras.layers.Dense(3)),
        "enormous": lambda: _single_layer((20000, 20000, 3), keras.layers.Conv2D(3, 1)),
        "memory_hog": lambda: _wide_model(65536, GOOD_SIZE[0]),
        "slow": lambda: _wide_model(256, 256, depth=4),
        "medium": lambda: _wide_model(128, 128, depth=2),
    }
    folder = Path(tempfile.mkdtemp(prefix="mdn-server-models-"))
    paths = {}
    for name, build in builders.items():
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(_convert(build()))
    return paths


def make_phases(active: str = "validation", per_day: int = 50, **limits) -> Phases:
    """The default phase kinds with test-friendly limits (few timing runs)."""
    return parse_phases({
        "active": active, "runtime_size": [480, 720], "limits": {**FAST_LIMITS, **limits},
        "phases": [{"name": "development", "kind": "development", "submissions_per_day": per_day},
                   {"name": "validation", "kind": "validation", "split": "validation",
                    "submissions_per_day": per_day},
                   {"name": "test", "kind": "test", "split": "validation",
                    "submissions_per_day": per_day, "max_submissions": 1}]})


@contextlib.contextmanager
def live_server(app):
    """Serve `app` with uvicorn on 127.0.0.1:<free port>; yields the base URL."""
    import uvicorn

    port = free_ports(1)[0]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           limit_concurrency=100))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def server_process(state: Path, hidden: Path, max_bytes: int | None = None):
    """The app under uvicorn in its OWN process (so its memory can be measured from
    /proc/PID/status); yields (base URL, pid). No worker is started."""
    import subprocess
    import sys

    import httpx

    port = free_ports(1)[0]
    code = ("import sys, uvicorn; from mobiledenoise.server.app import create_app; "
            "from mobiledenoise.server.uploads import UploadLimits; "
            "limits = UploadLimits(**({'max_bytes': int(sys.argv[4])} if sys.argv[4] != '-' else {})); "
            "uvicorn.run(create_app(sys.argv[1], sys.argv[2], limits=limits), host='127.0.0.1', "
            "port=int(sys.argv[3]), log_level='warning')")
    process = subprocess.Popen([sys.executable, "-c", code, str(state), str(hidden), str(port),
                                str(max_bytes or "-")])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the server process did not start")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")
