"""Classical (non-learned) denoisers, as the baselines the learned models must beat.

Each one maps a uint8 H×W×3 RGB image to a uint8 H×W×3 image: the float results are rounded
back to 8 bits (`from_float`) exactly as a model's output is before scoring, so every method
is scored the same way. Settings follow shared/data/README.md ("Classical baselines"):

- OpenCV NLM: `fastNlMeansDenoisingColored(h, hColor=h, 7, 21)`; `h` is tuned by
  `tune_opencv_h` on TRAINING pairs only (best mean PSNR over a grid), never on the scenes
  it is scored on. Thread count is OpenCV's global setting (`cv2.setNumThreads`).
- Wavelet: scikit-image `denoise_wavelet`, BayesShrink, soft thresholding, rescale_sigma.
- scikit-image NLM: fast mode, patch 5, distance 6, h = 0.8·σ with σ = `estimate_sigma`.
- BM3D: `bm3d.bm3d_rgb` (pip `bm3d`), σ = `estimate_sigma` unless given; ~70 s per megapixel
  on one core.
`estimate_sigma` underestimates real (spatially correlated, JPEG-compressed) noise badly, so
the blind skimage NLM and BM3D barely change such images. `noise_sigma` is the project's own
estimate (`mobiledenoise.data.noise_level.estimate_noise`), which `benchmarks/vs_classical.py`
uses for blind BM3D and for blind OpenCV NLM.

Choosing OpenCV's h:
- Oracle (`tune_opencv_h_refined`): the best mean PSNR on the scored set's own pairs, over a
  coarse grid wide enough for phone noise (`OPENCV_H_COARSE`, 1…40) and then the two
  geometric midpoints around the best value.
- Blind (`HMap`): h = slope·σ + intercept from the noise estimate σ (8-bit units), clipped to
  [1, 60], the line with the best mean PSNR over TRAINING images (`fit_h_map`,
  `blind_h_samples`: PolyU training scenes + synthetic camera noise on clean photos other
  than kodak24).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobiledenoise.data.crops import centre_crop
from mobiledenoise.data.imageio import from_float, to_float
from mobiledenoise.evaluate.metrics import psnr

OPENCV_H_GRID = (2, 3, 4, 5, 7, 10)
OPENCV_H_COARSE = (1, 2, 3, 5, 8, 12, 18, 26, 40)  # PolyU best ≈ 4, SIDD ≈ 20, night > 30


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


def noise_sigma(noisy: np.ndarray) -> float:
    """The project's blind noise estimate of a uint8 RGB image, std in 8-bit units."""
    from mobiledenoise.data.noise_level import estimate_noise

    return float(estimate_noise(noisy).sigma)


def refine_grid(grid: Sequence[float], best: float) -> list[float]:
    """Geometric midpoints between `best` and its neighbours in the sorted `grid` (rounded to
    0.1, new values only): the second, finer pass of the oracle search."""
    values = sorted(grid)
    i = values.index(best)
    near = [values[j] for j in (i - 1, i + 1) if 0 <= j < len(values)]
    return [m for m in (round(float(np.sqrt(best * n)), 1) for n in near) if m not in values]


def tune_opencv_h_refined(pairs: Sequence[tuple[np.ndarray, np.ndarray]],
                          coarse: Sequence[float] = OPENCV_H_COARSE,
                          on_value: Callable[[], None] | None = None
                          ) -> tuple[float, dict[float, float]]:
    """`tune_opencv_h` over `coarse`, then over the midpoints around its best value."""
    best, means = tune_opencv_h(pairs, coarse, on_value)
    finer = refine_grid(coarse, best)
    if finer:
        _, more = tune_opencv_h(pairs, finer, on_value)
        means.update(more)
    means = dict(sorted(means.items()))
    return max(means, key=means.get), means


@dataclass(frozen=True)
class HMap:
    """Blind OpenCV h from a noise estimate: h = slope·σ + intercept, clipped to [lo, hi]."""

    slope: float
    intercept: float
    lo: float = 1.0
    hi: float = 60.0
    n_samples: int = 0

    def __call__(self, sigma: float) -> float:
        return float(np.clip(self.slope * sigma + self.intercept, self.lo, self.hi))

    def __str__(self) -> str:
        return (f"h = {self.slope:.2f}·σ {self.intercept:+.2f}, clipped to [{self.lo:g}, "
                f"{self.hi:g}] (best mean PSNR over {self.n_samples} training images)")


def best_h(noisy: np.ndarray, clean: np.ndarray, coarse: Sequence[float] = OPENCV_H_COARSE
           ) -> float:
    """One image's own best OpenCV h (coarse grid, then refined)."""
    return tune_opencv_h_refined([(noisy, clean)], coarse)[0]


Sample = tuple[float, dict[float, float]]  # (σ estimate, {h: PSNR of NLM at h})
SLOPES = tuple(float(a) for a in np.arange(0.0, 2.501, 0.02))
INTERCEPTS = tuple(float(b) for b in np.arange(-4.0, 8.01, 0.25))


def _psnr_at(curve: dict[float, float], h: np.ndarray) -> np.ndarray:
    """A sample's PSNR at any h: linear in log h between its measured values, flat outside."""
    hs = np.array(sorted(curve))
    return np.interp(np.log(h), np.log(hs), [curve[v] for v in hs])


def fit_h_map(samples: Sequence[Sample]) -> HMap:
    """The line h = slope·σ + intercept (over SLOPES × INTERCEPTS, clipped like HMap) with
    the best mean PSNR over the samples, each read off its own measured h curve. This, not a
    line through each image's best h, is what matters: NLM loses little for a too-strong h on
    light noise but a lot for a too-weak h on heavy noise, and a textured image (where the
    estimate reads high and any h hurts) cannot pull the line down for the others."""
    if not samples:
        raise ValueError("fit_h_map needs at least one (sigma, curve) sample")
    sigma = np.array([s for s, _ in samples])
    slope, intercept = np.meshgrid(SLOPES, INTERCEPTS, indexing="ij")
    h = np.clip(slope[..., None] * sigma + intercept[..., None], HMap.lo, HMap.hi)
    scores = np.mean([_psnr_at(curve, h[..., k]) for k, (_, curve) in enumerate(samples)], axis=0)
    i, j = np.unravel_index(np.argmax(scores), scores.shape)
    return HMap(SLOPES[i], INTERCEPTS[j], n_samples=len(samples))


SYNTH_SOURCES = ("cbsd68", "mcmaster18", "sunhays80", "urban100")  # never kodak24 (validation)
SYNTH_SHOTS = tuple(float(s) for s in np.geomspace(1e-5, 5e-2, 6))  # the calibrated range


def blind_h_samples(data_root: Path, n_polyu: int = 8, n_synthetic: int = 12, crop: int = 256,
                    on_sample: Callable[[], None] | None = None) -> list[Sample]:
    """(σ estimate, NLM PSNR per h) of TRAINING images only: `n_polyu` PolyU training pairs
    spread over the scenes, and `n_synthetic` clean photos from SYNTH_SOURCES (round robin)
    with calibrated synthetic camera noise at two SYNTH_SHOTS levels each (cycling, fixed
    seeds). σ is estimated on the whole noisy image (as on the scored sets; a small crop has
    few flat regions and reads texture as noise); the h curve on its `crop` px centre crop."""
    from mobiledenoise.data.pairs import find_pairs, load_pair, split_by_scene

    train, _ = split_by_scene(find_pairs(data_root / "polyu_cropped"))
    step = max(1, len(train) // max(n_polyu, 1))
    pairs = [load_pair(p) for p in train[::step][:n_polyu]]
    pairs += synthetic_training_pairs(data_root / "clean_photos", n_synthetic)
    samples = []
    for noisy, clean in pairs:
        crops = [(centre_crop(noisy, crop), centre_crop(clean, crop))]
        samples.append((noise_sigma(noisy), tune_opencv_h_refined(crops)[1]))
        if on_sample is not None:
            on_sample()
    return samples


def synthetic_training_pairs(clean_photos: Path, n_images: int
                             ) -> list[tuple[np.ndarray, np.ndarray]]:
    import dataclasses

    from mobiledenoise.data.imageio import is_image_path, read_image
    from mobiledenoise.data.synthetic import PRESETS, SyntheticNoise

    folders = [sorted(p for p in (clean_photos / name).iterdir() if is_image_path(p))
               for name in SYNTH_SOURCES]
    files = [folders[i % len(folders)][i // len(folders)] for i in range(n_images)]
    pairs = []
    for i, path in enumerate(files):
        image = to_float(read_image(path))
        for k in (2 * i, 2 * i + 1):
            shot = SYNTH_SHOTS[k % len(SYNTH_SHOTS)]
            levels = dataclasses.replace(PRESETS["calibrated"], shot_range=(shot, shot * 1.0001))
            noisy, clean = SyntheticNoise(levels, jpeg_quality=(90, 90))(
                image, np.random.default_rng([7, i, k]))
            pairs.append((from_float(noisy), from_float(clean)))
    return pairs

