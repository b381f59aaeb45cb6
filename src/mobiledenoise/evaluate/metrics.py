"""Fidelity metrics and the Final Score, computed as the challenge computes them.

Convention (documented, tested):
- Both images are 8-bit RGB. A float model output in [0, 1] is first mapped to 8 bits by
  `from_float`: multiply by 255, round half to even (`numpy.rint`), clip to 0..255 — the
  same as saving the result as an 8-bit PNG, which is what a phone delivers.
- PSNR = 10·log10(255² / MSE), MSE over all pixels and all three channels at once (not a
  mean of per-channel PSNRs), per image; a dataset's PSNR is the mean of per-image PSNRs.
  Identical images give +inf, which is reported as 100 dB so means stay finite.
- SSIM: `skimage.metrics.structural_similarity` with `data_range=255`,
  `channel_axis=-1` (SSIM per channel, then averaged), its default 7×7 uniform window,
  K1=0.01, K2=0.03, no Gaussian weighting; per-image, then the mean over images.
  These match the figures in shared/data/README.md.
- Final Score = 2^(2·PSNR) / (C · runtime_ms) with C = 2^64 — reproduces Table 1 of the
  MAI 2021 report (e.g. 37.52 dB, 39 ms -> 53.99).
"""

from __future__ import annotations

import math

import numpy as np

from mobiledenoise.errors import UserError

SCORE_C = 2.0**64
PSNR_CAP_DB = 100.0
CHALLENGE_SIZE = (480, 720)  # H, W of the runtime measurement: the report's 720×480 landscape


def _as_uint8(image: np.ndarray, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image.astype(np.uint32) * 255 + 32767) // 65535
    if np.issubdtype(image.dtype, np.floating):
        return np.clip(np.rint(image.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    raise UserError(f"expected a uint8, uint16 or float image for {what}, received dtype {image.dtype}")


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_uint8(a, "the first image"), _as_uint8(b, "the second image")
    if a.shape != b.shape:
        raise UserError(f"expected two images of one shape, received {a.shape} and {b.shape}")
    return a, b


def psnr(output: np.ndarray, target: np.ndarray) -> float:
    """PSNR in dB of `output` against `target` on 8-bit RGB (see module docstring)."""
    a, b = _check_pair(output, target)
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    if mse == 0:
        return PSNR_CAP_DB
    return float(min(PSNR_CAP_DB, 10.0 * math.log10(255.0**2 / mse)))


def ssim(output: np.ndarray, target: np.ndarray) -> float:
    """SSIM of `output` against `target` on 8-bit RGB (see module docstring)."""
    from skimage.metrics import structural_similarity

    a, b = _check_pair(output, target)
    return float(structural_similarity(a, b, data_range=255, channel_axis=-1 if a.ndim == 3 else None))


def final_score(psnr_db: float, runtime_ms: float) -> float:
    """The MAI 2021 Final Score = 2^(2·PSNR) / (2^64 · runtime in ms)."""
    if not runtime_ms or runtime_ms <= 0:
        raise UserError(f"expected a positive runtime in ms, received {runtime_ms}")
    return 2.0 ** (2.0 * psnr_db) / (SCORE_C * runtime_ms)
