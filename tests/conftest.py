"""Shared fixtures.

`shared_data` is ../shared/data beside the checkout (or $MOBILEDENOISE_SHARED_DATA). Tests that
need real pairs take it; when it is missing they skip locally but FAIL under CI=true, where a
missing data folder means a broken set-up, not a reason to pass.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("MOBILEDENOISE_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = _shared_data_dir()
    if not (path / "polyu_cropped" / "noisy").is_dir():
        message = f"real data not found at {path} (expected ../shared/data/polyu_cropped)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def polyu_cropped(shared_data) -> Path:
    return shared_data / "polyu_cropped"


def free_ports(count: int) -> list[int]:
    """`count` distinct localhost ports that were free a moment ago (all bound at once)."""
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def make_pair_folder(root: Path, n_scenes: int = 3, per_scene: int = 2, size=(40, 56),
                     sigma: float = 12.0, seed: int = 0) -> Path:
    """A small noisy/ + clean/ folder of synthetic pairs named <scene>_<k>.png."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "noisy").mkdir(parents=True, exist_ok=True)
    (root / "clean").mkdir(parents=True, exist_ok=True)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    for s in range(n_scenes):
        for k in range(per_scene):
            base = np.stack([(xx * (s + 1) * 3) % 256, (yy * 5 + k * 20) % 256,
                             ((xx + yy) * 2) % 256], -1).astype(np.float64)
            clean = base.astype(np.uint8)
            noisy = np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8)
            name = f"scene{s}_{k}.png"
            Image.fromarray(clean).save(root / "clean" / name)
            Image.fromarray(noisy).save(root / "noisy" / name)
    return root


@pytest.fixture
def pair_folder(tmp_path) -> Path:
    return make_pair_folder(tmp_path / "pairs")


@pytest.fixture(scope="module")
def tiny_unet():
    """The tiny baseline U-Net with random, non-trivial weights (not near the identity)."""
    from mobiledenoise.models import build_model

    model = build_model("unet", preset="tiny")
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.2, w.shape).astype(np.float32) for w in model.get_weights()])
    return model
