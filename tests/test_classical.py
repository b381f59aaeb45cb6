"""Classical baselines (benchmarks/classical.py); the benchmark script is in test_vs_classical.py."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from mobiledenoise.evaluate.metrics import psnr

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import classical  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)


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


def test_refined_tuning_adds_midpoints_around_the_best_h():
    assert classical.refine_grid((1, 2, 3, 5, 8), 3) == [2.4, 3.9]
    assert classical.refine_grid((1, 2, 3), 1) == [1.4]
    strong = [_noisy_pair(20.0, seed=s) for s in range(2)]
    best, means = classical.tune_opencv_h_refined(strong, (2, 5, 10, 20, 40))
    assert best in means and means[best] == max(means.values())
    assert len(means) > 5 and list(means) == sorted(means)  # coarse grid + refined values


def test_blind_h_map_maximises_the_mean_psnr_of_the_samples():
    def curve(best):  # PSNR falls off on both sides of the sample's own best h
        return {float(h): 30.0 - abs(np.log(h / best)) for h in np.geomspace(1, 60, 80)}

    fitted = classical.fit_h_map([(2.0, curve(3.0)), (10.0, curve(11.0)), (20.0, curve(21.0))])
    assert fitted(2.0) == pytest.approx(3.0, abs=0.3) and fitted(20.0) == pytest.approx(21.0, abs=0.5)
    assert fitted(1000.0) == 60.0 and fitted(-50) == 1.0
    assert "3 training images" in str(fitted)
    flat = {h: 30.0 for h in classical.OPENCV_H_COARSE}  # a textured sample: h barely matters
    robust = classical.fit_h_map([(2.0, curve(3.0)), (20.0, curve(21.0)), (30.0, flat)])
    assert robust(20.0) == pytest.approx(21.0, abs=1.0)
    with pytest.raises(ValueError):
        classical.fit_h_map([])
