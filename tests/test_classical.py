"""Classical baselines (benchmarks/classical.py) and the model-vs-classical benchmark script."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_pair_folder
from typer.testing import CliRunner

from mobiledenoise.evaluate.metrics import psnr

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import classical  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)
import vs_classical  # noqa: E402


def _noisy_pair(sigma: float, size: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size]
    clean = np.stack([xx * 3, yy * 3, (xx + yy) * 2 + 20], -1).clip(0, 255)
    noisy = clean + np.random.default_rng(seed).normal(0, sigma, clean.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8), clean.astype(np.uint8)


@pytest.mark.parametrize("denoise", [lambda x: classical.opencv_nlm(x, 10), classical.wavelet,
                                     classical.skimage_nlm, classical.bm3d],
                         ids=["opencv_nlm", "wavelet", "skimage_nlm", "bm3d"])
def test_each_method_keeps_the_format_and_removes_gaussian_noise(denoise):
    noisy, clean = _noisy_pair(sigma=15.0)
    output = denoise(noisy)
    assert output.dtype == np.uint8 and output.shape == noisy.shape
    assert psnr(output, clean) > psnr(noisy, clean) + 3.0


def test_sigma_estimate_matches_white_gaussian_noise():
    noisy, _ = _noisy_pair(sigma=10.0, size=96)
    assert classical.estimate_noise_sigma(noisy) * 255 == pytest.approx(10.0, rel=0.2)


def test_tuned_opencv_h_grows_with_the_noise():
    weak = [_noisy_pair(2.0, seed=s) for s in range(2)]
    strong = [_noisy_pair(20.0, seed=s) for s in range(2)]
    calls = []
    h_weak, means = classical.tune_opencv_h(weak, (2, 5, 10, 20), on_value=lambda: calls.append(1))
    h_strong, _ = classical.tune_opencv_h(strong, (2, 5, 10, 20))
    assert h_weak < h_strong
    assert set(means) == {2, 5, 10, 20} and len(calls) == 4
    with pytest.raises(ValueError):
        classical.tune_opencv_h([], (3,))


def _tiny_tflite(path: Path, int8: bool = False) -> Path:
    """A fixed 48×48 model blurring with a 3×3 box filter: a weak but real denoiser."""
    import keras
    import tensorflow as tf

    inputs = keras.Input(shape=(48, 48, 3), batch_size=1)
    conv = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([np.full((3, 3, 3, 1), 1 / 9, np.float32)])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        rng = np.random.default_rng(0)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [rng.random((1, 48, 48, 3), dtype=np.float32)] for _ in range(8))
    path.write_bytes(converter.convert())
    return path


@pytest.mark.filterwarnings("ignore:Statistics for quantized inputs")
def test_benchmark_script_writes_table_and_plot(tmp_path):
    data = make_pair_folder(tmp_path / "pairs", n_scenes=3, per_scene=2, size=(40, 56), sigma=30)
    fp32 = _tiny_tflite(tmp_path / "blur.tflite")
    int8 = _tiny_tflite(tmp_path / "blur_int8.tflite", int8=True)
    out = tmp_path / "results"
    result = CliRunner().invoke(vs_classical.app, [
        "--data", str(data), "--model", str(fp32), "--int8", str(int8), "--out", str(out),
        "--limit", "2", "--skip-bm3d", "--tune-pairs", "2"])
    assert result.exit_code == 0, result.output
    (csv_path,) = out.glob("vs_classical-*.csv")
    with csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == vs_classical.COLUMNS
    assert [(r["method"], r["threads"]) for r in rows] == [
        ("identity", "1"), ("model_fp32", "1"), ("model_fp32", "2"), ("model_int8", "1"),
        ("model_int8", "2"), ("opencv_nlm", "1"), ("opencv_nlm", "2"), ("wavelet_bayes", "1"),
        ("skimage_nlm", "1")]
    assert all(r["n_images"] == "2" for r in rows)
    by_name = {(r["method"], r["threads"]): r for r in rows}
    noisy_psnr = float(by_name["identity", "1"]["psnr"])
    fp32_psnr = float(by_name["model_fp32", "1"]["psnr"])
    assert fp32_psnr > noisy_psnr  # the blur does denoise this strong noise
    assert float(by_name["model_int8", "1"]["psnr"]) == pytest.approx(fp32_psnr, abs=1.0)
    assert float(by_name["opencv_nlm", "1"]["speed_vs_cv2_nlm"]) == pytest.approx(1.0)
    assert "tuned on 2 train pairs" in by_name["opencv_nlm", "1"]["note"]
    assert csv_path.with_suffix(".png").stat().st_size > 5000
    assert "| model_int8 | 2 |" in csv_path.with_suffix(".md").read_text()


def test_benchmark_script_needs_a_model_until_one_is_shipped(tmp_path, monkeypatch):
    from mobiledenoise import weights

    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)  # no shipped default here
    data = make_pair_folder(tmp_path / "pairs")
    result = CliRunner().invoke(vs_classical.app, ["--data", str(data), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--model" in result.output
