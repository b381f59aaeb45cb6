"""Noise statistics of a (noisy, clean) pair (`data.noise_stats`) and the realism benchmark."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mobiledenoise.data.noise_stats import (blockiness, ijg_luma_table, jpeg_quality,
                                            measure_pair)
from mobiledenoise.errors import UserError

REPO = Path(__file__).resolve().parents[1]


def _scene(h=256, w=320):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([30 + 180 * xx / w, 40 + 160 * yy / h, 120 + 60 * np.sin(xx / 25)], -1)


def test_white_noise_std_uncorrelated_chroma_two():
    clean = _scene()
    noise = np.random.default_rng(1).normal(0, 5, clean.shape)
    stats = measure_pair((clean + noise) / 255, clean / 255)  # float input, 8-bit units out
    np.testing.assert_allclose(stats.std, 5, rtol=0.03)
    assert max(abs(c) for c in stats.corr_h + stats.corr_v) < 0.03
    assert stats.chroma_ratio == pytest.approx(2.0, rel=0.05)  # independent channels
    green = np.array(stats.nlf[1])
    assert np.nanmin(green) > 4.5 and np.nanmax(green) < 5.5
    assert np.isnan(green[0])  # no clean pixel of green below 40


def test_correlation_by_lag_and_axis():
    """Noise blurred only horizontally with [1, 1, 1]: lag-1 2/3, lag-2 1/3, lag-3 0; none
    vertically."""
    rng = np.random.default_rng(2)
    white = rng.normal(0, 3, (256, 322, 3))
    noise = (white[:, :-2] + white[:, 1:-1] + white[:, 2:])
    clean = _scene(256, 320)
    stats = measure_pair((clean + noise) / 255, clean / 255)
    np.testing.assert_allclose(stats.corr_h, [2 / 3, 1 / 3, 0], atol=0.03)
    np.testing.assert_allclose(stats.corr_v, [0, 0, 0], atol=0.03)


def test_chroma_ratio_small_for_luma_only_noise():
    rng = np.random.default_rng(3)
    luma = rng.normal(0, 4, (128, 128, 1))
    chroma = rng.normal(0, 0.5, (128, 128, 3))
    clean = _scene(128, 128)
    stats = measure_pair((clean + luma + chroma) / 255, clean / 255)
    assert stats.chroma_ratio < 0.05


def test_nlf_tracks_signal_dependent_noise():
    rng = np.random.default_rng(4)
    clean = np.repeat(np.tile(np.linspace(0, 255, 512), (256, 1))[..., None], 3, -1)
    noise = rng.normal(0, 1, clean.shape) * (1 + clean / 32)
    stats = measure_pair((clean + noise) / 255, clean / 255)
    red = np.array(stats.nlf[0])
    centres = np.arange(8, 256, 16)
    np.testing.assert_allclose(red, 1 + centres / 32, rtol=0.1)


def test_jpeg_blocking_and_quality():
    clean = np.clip(_scene(), 0, 255)
    noisy = np.clip(clean + np.random.default_rng(5).normal(0, 6, clean.shape), 0, 255)
    noisy8 = np.rint(noisy).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy8).save(buffer, "JPEG", quality=30)
    buffer.seek(0)
    assert jpeg_quality(buffer) == 30
    buffer.seek(0)
    compressed = np.asarray(Image.open(buffer))
    assert blockiness(noisy8) == pytest.approx(1.0, abs=0.05)  # no JPEG, no blocking
    assert blockiness(compressed) > 1.2
    stats = measure_pair(compressed, clean.astype(np.float32) / 255)
    assert stats.noise_blockiness > 1.2 and stats.blockiness > 1.2


def test_jpeg_quality_of_non_jpeg_is_none(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    assert jpeg_quality(tmp_path / "a.png") is None
    (tmp_path / "b.jpg").write_text("no")
    assert jpeg_quality(tmp_path / "b.jpg") is None
    assert ijg_luma_table(50)[0] == 16 and ijg_luma_table(100).max() == 1


def test_mismatched_pair_refused():
    with pytest.raises(UserError, match="equal shape"):
        measure_pair(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(UserError, match="H×W×3"):
        measure_pair(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8))


def test_real_polyu_pair_shows_correlated_jpeg_noise(polyu_cropped):
    """The PolyU crops: noise correlated (lag 1 > 0.5), chroma damped, JPEG Q75 blocking."""
    from mobiledenoise.data.imageio import read_image

    name = "Canon80D_8_8_6400_comproom_14.JPG"
    stats = measure_pair(read_image(polyu_cropped / "noisy" / name),
                         read_image(polyu_cropped / "clean" / name))
    assert stats.corr_h[0] > 0.5 and stats.corr_v[0] > 0.5
    assert stats.corr_h[0] > stats.corr_h[1] > stats.corr_h[2]
    assert stats.chroma_ratio < 1.0
    assert jpeg_quality(polyu_cropped / "noisy" / name) == 75
    assert stats.blockiness > 1.2


@pytest.mark.parametrize("script", ["noise_realism.py", "noise_estimate.py"])
def test_benchmark_with_missing_data_exits_2_in_one_line(tmp_path, script):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), "--data",
                           str(tmp_path / "none"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: expected"), lines
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_realism_benchmark_runs_small(tmp_path, shared_data):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "noise_realism.py"),
                           "--data", str(shared_data), "--out", str(tmp_path), "--images", "2",
                           "--limit", "2"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(list(tmp_path.glob("noise_realism-*.md"))) == 1
    assert len(list(tmp_path.glob("noise_realism-*.png"))) == 3
