"""Classical (non-learned) denoisers, as the baselines the learned models must beat.

Each one maps a uint8 H×W×3 RGB image to a uint8 H×W×3 image: the float results are rounded
back to 8 bits (`from_float`) exactly as a model's output is before scoring, so every method
is scored the same way. Settings follow shared/data/README.md ("Classical baselines"):

- OpenCV NLM: `fastNlMeansDenoisingColored(h, hColor=h, 7, 21)`; `h` is tuned by
  `tune_opencv_h` on TRAINING pairs only (best mean PSNR over a grid), never on the scenes
  it is scored on. Thread count is OpenCV's global setting (`cv2.setNumThreads`).
- Wavelet: scikit-image `denoise_wavelet`, BayesShrink, soft thresholding, rescale_sigma.
- scikit-image NLM: fast mode, patch 5, distance 6, h = 0.8·σ with σ = `estimate_sigma`.
- BM3D: `bm3d.bm3d_rgb` (pip `bm3d`), σ = `estimate_sigma`; ~70 s per megapixel on one core.
`estimate_sigma` underestimates real (spatially correlated, JPEG-compressed) noise badly, so
the blind skimage NLM and BM3D barely change such images; that is the honest blind result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from mobiledenoise.data.imageio import from_float, to_float
from mobiledenoise.evaluate.metrics import psnr

OPENCV_H_GRID = (2, 3, 4, 5, 7, 10)


def identity(noisy: np.ndarray) -> np.ndarray:
    """The do-nothing baseline."""
    return noisy


def opencv_nlm(noisy: np.ndarray, h: float) -> np.ndarray:
    """OpenCV's fast non-local means on colour images, filter strength `h` (8-bit units)."""
    import cv2

    bgr = np.ascontiguousarray(noisy[..., ::-1])
    return cv2.fastNlMeansDenoisingColored(bgr, None, h, h, 7, 21)[..., ::-1]


def estimate_noise_sigma(noisy: np.ndarray) -> float:
    """Blind noise std in [0, 1] units: scikit-image's wavelet estimate, mean over channels."""
    from skimage.restoration import estimate_sigma

    return float(np.mean(estimate_sigma(to_float(noisy), channel_axis=-1)))


def wavelet(noisy: np.ndarray) -> np.ndarray:
    """Wavelet shrinkage with BayesShrink thresholds (σ estimated inside scikit-image)."""
    from skimage.restoration import denoise_wavelet

    out = denoise_wavelet(to_float(noisy), method="BayesShrink", mode="soft",
                          rescale_sigma=True, channel_axis=-1)
    return from_float(out)


def skimage_nlm(noisy: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """scikit-image non-local means (fast mode); `sigma` in [0, 1] units, estimated if None."""
    from skimage.restoration import denoise_nl_means

    sigma = estimate_noise_sigma(noisy) if sigma is None else sigma
    out = denoise_nl_means(to_float(noisy), h=0.8 * sigma, sigma=sigma, patch_size=5,
                           patch_distance=6, fast_mode=True, channel_axis=-1)
    return from_float(out)


def bm3d(noisy: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """BM3D for colour images; `sigma` in [0, 1] units, estimated if None. Slow (~70 s/MP)."""
    import bm3d as bm3d_lib

    sigma = estimate_noise_sigma(noisy) if sigma is None else sigma
    return from_float(bm3d_lib.bm3d_rgb(to_float(noisy), sigma_psd=max(sigma, 1e-4)))


def tune_opencv_h(pairs: Iterable[tuple[np.ndarray, np.ndarray]],
                  grid: Sequence[float] = OPENCV_H_GRID,
                  on_value: Callable[[], None] | None = None) -> tuple[float, dict[float, float]]:
    """The `h` of `grid` with the best mean PSNR on (noisy, clean) uint8 pairs, and all means.

    `on_value` is called after each h is scored (progress reporting).
    """
    pairs = list(pairs)
    if not pairs or not grid:
        raise ValueError("tune_opencv_h needs at least one pair and one h value")
    means = {}
    for h in grid:
        means[h] = float(np.mean([psnr(opencv_nlm(noisy, h), clean) for noisy, clean in pairs]))
        if on_value is not None:
            on_value()
    return max(means, key=means.get), means
