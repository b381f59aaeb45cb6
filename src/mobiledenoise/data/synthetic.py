"""Synthetic realistic camera noise: unprocess sRGB → RAW, add sensor noise, reprocess.

MOMA-Denoise's trick (MAI 2021 report, §4.4), after Brooks et al. 2019, "Unprocessing Images
for Learned Raw Denoising"; written from the paper's description. NumPy + OpenCV only (it runs
inside a tf.data generator, so nothing here imports TensorFlow).

Pipeline, with one random `CameraParams` per call:
  sRGB → inverse tone curve (smoothstep) → inverse gamma (sRGB or 2.2) → sRGB→camera RGB
  (inverse of a random camera's colour matrix) → divide by white-balance and digital gains →
  RGGB mosaic → Poisson-Gaussian noise, variance = shot·x + read (optionally quantised like a
  10/12-bit ADC) → and back: demosaic → gains → colour matrix → gamma → tone curve.

Design choices:
- Noise lives on the Bayer grid (one sample per photosite) and reaches RGB through the
  demosaic, so it is spatially and cross-channel correlated like a phone's. `SyntheticNoise`
  demosaics only the noise and adds it to the full-resolution linear image, so the clean
  target is the input itself (≥ 45 dB round trip) instead of a demosaiced copy whose
  interpolation blur and zippering a model would learn to reproduce. `unprocess` /
  `reprocess` keep the full mosaic round trip for callers that want a RAW image.
- Camera matrices: a random convex mix of the XYZ→camera matrices of five cameras (the
  PolyU ones), approximately the D65 values of the Adobe DNG / dcraw tables, so each sample
  is a plausible, different camera. Gains as in Brooks et al.: red 1.9–2.4, blue 1.5–1.9,
  digital (brightness) gain 1/N(0.8, 0.1).
- Noise levels (`NoiseLevels`): shot ~ log-uniform; log(read) = slope·log(shot) + intercept +
  N(0, jitter), the log-linear relation Brooks et al. fitted over real sensors
  (slope 2.18, intercept 1.20, jitter 0.26). The `camera` preset spans shot 2e-5 … 0.01
  (sRGB noise std ≈ 1.3 … 30 /255, noisy-vs-clean PSNR ≈ 46 … 18 dB): the low end is
  daylight, the real PolyU pairs (ISO 800–12800 DSLRs, std 2.2–7.1 /255, shot ≈ 5e-5 … 6e-4)
  take ~40 % of the draws, the high end is a small-sensor phone at high ISO (SIDD phone
  pairs have std ≈ 20 /255). `brooks` is the paper's range (1e-4 … 0.012).
- Chroma: the `calibrated` preset adds an ISP-like chroma noise reduction (`reduce_chroma`).
- JPEG: off by default. `jpeg_quality=(lo, hi)` compresses the NOISY image only at a random
  quality (the real training data is JPEG Q≈75 and phones deliver JPEG), so a model also
  learns to undo blocking; the clean target stays uncompressed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobiledenoise.errors import UserError

# Linear sRGB (D65) → CIE XYZ.
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])

# XYZ → camera RGB (×1e-4, D65), approximately the Adobe DNG colour matrices of these cameras.
_XYZ_TO_CAMERA = {
    "Canon EOS 5D Mark II": [4716, 603, -830, -7798, 15474, 2480, -1496, 1937, 6651],
    "Nikon D800": [7866, -2108, -555, -4869, 12483, 2681, -1176, 2069, 7501],
    "Canon EOS 600D": [6461, -907, -882, -4300, 12184, 2378, -819, 1944, 5931],
    "Canon EOS 80D": [7457, -671, -937, -4849, 12495, 2643, -1213, 2354, 5492],
    "Sony ILCE-7M2": [5271, -712, -347, -6153, 13653, 2763, -1601, 2366, 7242],
}


@dataclass(frozen=True)
class NoiseLevels:
    """How noisy a sampled camera is; see the module docstring for the presets."""

    shot_range: tuple[float, float] = (2e-5, 0.01)  # shot variance factor, sampled log-uniform
    read_from_shot: tuple[float, float, float] = (2.18, 1.20, 0.26)  # slope, intercept, jitter
    bit_depths: tuple[int, ...] = (10, 12)  # ADC depth drawn from these; () = no quantisation
    red_gain: tuple[float, float] = (1.9, 2.4)
    blue_gain: tuple[float, float] = (1.5, 1.9)
    digital_gain: tuple[float, float] = (0.8, 0.1)  # brightness gain = 1 / N(mean, std)
    # The ISP's chroma noise reduction: the sRGB noise's chroma (noise minus its luma) is
    # multiplied by a gain drawn from this range and blurred with a Gaussian of a sigma (px)
    # drawn from `chroma_blur`. (1, 1) and (0, 0): off, raw demosaiced noise.
    chroma_gain: tuple[float, float] = (1.0, 1.0)
    chroma_blur: tuple[float, float] = (0.0, 0.0)
    # Share of the noise variance drawn per pixel and channel (spatially white) instead of per
    # photosite through the bilinear demosaic (correlated, lag-1 ≈ 0.5-0.7). Phone ISPs
    # (edge-aware demosaic, sharpening, binning) deliver whiter noise than a bilinear demosaic.
    white_share: tuple[float, float] = (0.0, 0.0)
    # Global tone curves drawn from: "smoothstep" (an S-curve, flat at black, so it squashes
    # shadow noise) or "none" (gamma only). Phone ISPs lift shadows, and real phone sRGB noise
    # is ~1.5× stronger at intensity 16-63 than at 96-159 (SIDD); with smoothstep alone the
    # synthetic noise is weaker there (0.76-0.99×, benchmarks/noise_realism.py).
    tone_curves: tuple[str, ...] = ("smoothstep",)


PRESETS: dict[str, NoiseLevels] = {
    "camera": NoiseLevels(),
    "brooks": NoiseLevels(shot_range=(1e-4, 0.012)),
    # Real sRGB noise has a chroma/luma variance ratio of 0.33 (PolyU) to 0.80 (SIDD phones);
    # demosaiced raw noise ('camera') has ~4, because the camera matrix amplifies chroma.
    # `calibrated` draws an ISP chroma reduction per sample so that the ratio spans ~0.4 to
    # ~4 (benchmarks/noise_realism.py), with at most a light chroma blur: SIDD's noise is
    # nearly white beyond lag 1. Shot up to 5e-2 puts ~25 % of draws at or above SIDD's
    # phone level (std ≈ 17–20 /255) and reaches night-time phones; the low end (1e-5,
    # std ≈ 1 /255) is a nearly clean photo. Caution, measured: models trained on it do WORSE
    # on real phone noise than on `camera` (benchmarks/results/ladder-attempt-vm.md), and the
    # chroma reduction is the cause, not the heavier levels (noise-ablation-vm.md there).
    "calibrated": NoiseLevels(shot_range=(1e-5, 5e-2), chroma_gain=(0.3, 1.0),
                              chroma_blur=(0.0, 0.8)),
    # `camera`'s raw demosaiced noise shape (no ISP chroma reduction: the ablation's finding)
    # at `calibrated`'s levels, up to night-time phones (shot 5e-2, std ≈ 30 /255 mid-grey).
    "camera_night": NoiseLevels(shot_range=(2e-5, 5e-2)),
    # `camera` with the noise's spatial correlation drawn from demosaiced to white: a model
    # trained on demosaiced noise alone removes it (+6.6 dB at std 18, lag-1 0.78) but barely
    # touches white noise of the same std (+1.5 dB), and real phone noise sits in between.
    "camera_wide": NoiseLevels(white_share=(0.0, 1.0)),
    # `camera_wide` up to night-time phones (shot 5e-2, std ≈ 30 /255 mid-grey): `camera_wide`
    # stops at shot 0.01, below the heaviest levels `benchmarks/vs_classical.py` scores.
    "camera_wide_night": NoiseLevels(shot_range=(2e-5, 5e-2), white_share=(0.0, 1.0)),
    # `camera_wide` with an ISP chroma noise reduction drawn per camera from none (gain 1, no
    # blur) to `chroma_denoised`'s strongest (gain 0.25, blur 1.5 px): cameras that leave
    # luminance grain after a strong chroma NR (PolyU's DSLRs: chroma/luma 0.32), and phones
    # that leave chroma in (SIDD: 0.8). On `chroma_denoised` noise at shot 0.008 a model
    # trained on `camera_wide` removes 1.6 dB where tuned NLM removes 3.3; on `camera_wide`'s
    # own noise it is 1.8 dB above NLM (benchmarks/results/noise-shape-vm.md).
    "camera_wide_isp": NoiseLevels(white_share=(0.0, 1.0), chroma_gain=(0.25, 1.0),
                                   chroma_blur=(0.0, 1.5)),
    # Half-way: chroma NR no stronger than gain 0.5 and blur 0.8 px. As `default`'s stage 2,
    # neither is shipped: both cost 0.4-0.6 dB on real phone photos
    # (benchmarks/results/candidates-default-stage2-noise-vm.md).
    "camera_wide_isp_mild": NoiseLevels(white_share=(0.0, 1.0), chroma_gain=(0.5, 1.0),
                                        chroma_blur=(0.0, 0.8)),
    # `camera_wide` with half of the cameras rendering without the S-curve, so the noise's
    # shadows/mid-tones ratio spans DSLR-like (~0.8) to phone-like (~1.4-1.5, SIDD 1.46-1.62).
    # Measured, not shipped: 1,000 fine-tuning steps of `default` on it (as
    # recipes/default_finetune.yaml) gave 29.13 dB on the SIDD blocks against 29.55 with
    # `camera_wide`, other sets level (snapshots-noise-shape-vm.md). So the shadow shape is not
    # what caps phone quality.
    "camera_phone": NoiseLevels(white_share=(0.0, 1.0), tone_curves=("smoothstep", "none")),
    # The first fit (recipes/fast_chroma.yaml, not shipped): its strong, blurred chroma
    # reduction left phone chroma noise (ratio 0.2-0.34 against SIDD's 0.8) under-represented.
    "chroma_denoised": NoiseLevels(shot_range=(1e-5, 5e-2), chroma_gain=(0.25, 0.7),
                                   chroma_blur=(0.0, 1.5)),
}


@dataclass(frozen=True)
class CameraParams:
    """One sampled camera: colour, gains, tone and noise."""

    rgb_to_cam: np.ndarray  # 3×3, linear sRGB → camera RGB, rows sum to 1
    wb_gains: np.ndarray  # (red, green, blue) white balance, green = 1
    digital_gain: float
    gamma: str  # "srgb" | "2.2"
    shot: float  # noise variance = shot · signal + read (signal in [0, 1])
    read: float
    bits: int | None  # ADC bit depth, None = no quantisation
    chroma_gain: float = 1.0  # ISP chroma noise reduction (see NoiseLevels)
    chroma_blur: float = 0.0
    white_share: float = 0.0  # of the noise variance, drawn per pixel (see NoiseLevels)
    tone: str = "smoothstep"  # global tone curve: "smoothstep" | "none"

    @property
    def cam_to_rgb(self) -> np.ndarray:
        return np.linalg.inv(self.rgb_to_cam)


def get_levels(levels: str | NoiseLevels) -> NoiseLevels:
    if isinstance(levels, NoiseLevels):
        return levels
    if levels not in PRESETS:
        raise UserError(f"expected a noise preset ({', '.join(PRESETS)}), received {levels!r}")
    return PRESETS[levels]


def sample_params(rng: np.random.Generator, levels: str | NoiseLevels = "camera") -> CameraParams:
    """Draw a random camera: mixed colour matrix, gains, gamma and noise levels."""
    levels = get_levels(levels)
    matrices = np.array(list(_XYZ_TO_CAMERA.values()), np.float64).reshape(-1, 3, 3) / 1e4
    weights = rng.uniform(1e-8, 1.0, len(matrices))
    xyz_to_cam = np.tensordot(weights / weights.sum(), matrices, axes=1)
    rgb_to_cam = xyz_to_cam @ _RGB_TO_XYZ
    rgb_to_cam /= rgb_to_cam.sum(axis=1, keepdims=True)  # white stays white before WB
    log_shot = rng.uniform(*np.log(levels.shot_range))
    slope, intercept, jitter = levels.read_from_shot
    log_read = slope * log_shot + intercept + rng.normal(0.0, jitter)
    digital = 1.0 / max(rng.normal(*levels.digital_gain), 0.5)
    bits = int(rng.choice(levels.bit_depths)) if levels.bit_depths else None
    return CameraParams(
        rgb_to_cam=rgb_to_cam.astype(np.float32),
        wb_gains=np.array([rng.uniform(*levels.red_gain), 1.0, rng.uniform(*levels.blue_gain)],
                          np.float32),
        digital_gain=float(digital), gamma=str(rng.choice(["srgb", "2.2"])),
        shot=float(np.exp(log_shot)), read=float(np.exp(log_read)), bits=bits,
        chroma_gain=float(rng.uniform(*levels.chroma_gain)),
        chroma_blur=float(rng.uniform(*levels.chroma_blur)),
        # drawn only when asked for, so the other presets keep their random streams
        white_share=float(rng.uniform(*levels.white_share)) if max(levels.white_share) > 0 else 0.0,
        tone=str(rng.choice(levels.tone_curves)) if len(levels.tone_curves) > 1
        else levels.tone_curves[0])


# --- tone curve and gamma -------------------------------------------------------------------

def _tone(x: np.ndarray, kind: str = "smoothstep") -> np.ndarray:
    if kind == "none":
        return x
    return 3.0 * x**2 - 2.0 * x**3  # smoothstep, a global S-curve


def _inverse_tone(y: np.ndarray, kind: str = "smoothstep") -> np.ndarray:
    y = np.clip(y, 0.0, 1.0)
    if kind == "none":
        return y
    return 0.5 - np.sin(np.arcsin(1.0 - 2.0 * y) / 3.0)


def _gamma(x: np.ndarray, kind: str) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    if kind == "2.2":
        return np.maximum(x, 1e-8) ** (1.0 / 2.2)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.maximum(x, 1e-8) ** (1 / 2.4) - 0.055)


def _inverse_gamma(y: np.ndarray, kind: str) -> np.ndarray:
    if kind == "2.2":
        return np.maximum(y, 1e-8) ** 2.2
    return np.where(y <= 0.04045, y / 12.92, ((np.maximum(y, 0.04045) + 0.055) / 1.055) ** 2.4)


# --- linear camera RGB ↔ sRGB (full resolution) ---------------------------------------------

def _gains(params: CameraParams) -> np.ndarray:
    return (params.wb_gains * params.digital_gain).astype(np.float32)


def unprocess_linear(rgb: np.ndarray, params: CameraParams) -> np.ndarray:
    """sRGB H×W×3 in [0, 1] → linear camera RGB before white balance, H×W×3 float32."""
    rgb = np.asarray(rgb, np.float32)
    linear = _inverse_gamma(_inverse_tone(rgb, params.tone), params.gamma)
    camera = linear @ params.rgb_to_cam.T
    return (camera / _gains(params)).astype(np.float32)


def reprocess_linear(camera: np.ndarray, params: CameraParams) -> np.ndarray:
    """Linear camera RGB H×W×3 → sRGB H×W×3 float32 in [0, 1] (exact inverse of the above)."""
    balanced = np.asarray(camera, np.float32) * _gains(params)
    linear = balanced @ params.cam_to_rgb.astype(np.float32).T
    return np.clip(_tone(_gamma(linear, params.gamma), params.tone), 0.0, 1.0).astype(np.float32)


# --- Bayer mosaic ----------------------------------------------------------------------------

def _check_even(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[-1] != 3:
        raise UserError(f"expected an H×W×3 image, received shape {image.shape}")
    h, w = image.shape[:2]
    if h % 2 or w % 2:
        raise UserError(f"expected even height and width for an RGGB mosaic, received {h}×{w}; "
                        "crop one row/column first (SyntheticNoise handles odd sizes itself)")


def mosaic(camera: np.ndarray) -> np.ndarray:
    """H×W×3 → RGGB Bayer as (H/2, W/2, 4) planes [R, Gr, Gb, B]."""
    _check_even(camera)
    return np.stack([camera[0::2, 0::2, 0], camera[0::2, 1::2, 1],
                     camera[1::2, 0::2, 1], camera[1::2, 1::2, 2]], axis=-1)


_KERNEL_RB = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 4.0
_KERNEL_G = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], np.float32) / 4.0


def demosaic(bayer: np.ndarray) -> np.ndarray:
    """Bilinear demosaic of (H/2, W/2, 4) RGGB planes → H×W×3 float32 (signed noise too)."""
    import cv2

    h2, w2, _ = bayer.shape
    sparse = np.zeros((3, 2 * h2, 2 * w2), np.float32)
    sparse[0, 0::2, 0::2] = bayer[..., 0]
    sparse[1, 0::2, 1::2] = bayer[..., 1]
    sparse[1, 1::2, 0::2] = bayer[..., 2]
    sparse[2, 1::2, 1::2] = bayer[..., 3]
    # BORDER_REFLECT_101 keeps the Bayer parity at the edges.
    planes = [cv2.filter2D(sparse[c], -1, kernel, borderType=cv2.BORDER_REFLECT_101)
              for c, kernel in enumerate((_KERNEL_RB, _KERNEL_G, _KERNEL_RB))]
    return np.stack(planes, axis=-1)


def unprocess(rgb: np.ndarray, params: CameraParams) -> np.ndarray:
    """sRGB H×W×3 in [0, 1] (H, W even) → linear RGGB Bayer (H/2, W/2, 4) float32."""
    _check_even(np.asarray(rgb))
    return mosaic(unprocess_linear(rgb, params))


def reprocess(bayer: np.ndarray, params: CameraParams) -> np.ndarray:
    """RGGB Bayer (H/2, W/2, 4) → sRGB H×W×3 float32 in [0, 1] (bilinear demosaic)."""
    return reprocess_linear(demosaic(np.asarray(bayer, np.float32)), params)


# --- sensor noise ----------------------------------------------------------------------------

def add_poisson_gaussian(bayer: np.ndarray, shot: float, read: float,
                         rng: np.random.Generator) -> np.ndarray:
    """Heteroscedastic Gaussian approximation of shot + read noise: var = shot·x + read."""
    variance = shot * np.maximum(bayer, 0.0) + read
    noise = rng.standard_normal(bayer.shape, np.float32) * np.sqrt(variance)
    return (bayer + noise).astype(np.float32)


def quantize(bayer: np.ndarray, bits: int) -> np.ndarray:
    """Round to an ADC's levels and clip to its range [0, 1]."""
    levels = float(2**bits - 1)
    return (np.clip(np.rint(bayer * levels), 0, levels) / levels).astype(np.float32)


class SyntheticNoise:
    """Callable turning a clean sRGB float image into an aligned (noisy, clean_target) pair.

    `clean_target = reprocess_linear(unprocess_linear(clean))` with the same camera: equal to
    the input to float precision (≥ 45 dB), so noisy and target share colour exactly. Any
    H×W works: the noise mosaic is padded to even size and cropped back.
    """

    def __init__(self, levels: str | NoiseLevels = "camera",
                 jpeg_quality: tuple[int, int] | None = None, seed: int | None = None):
        self.levels = get_levels(levels)
        if jpeg_quality is not None and not 1 <= jpeg_quality[0] <= jpeg_quality[1] <= 100:
            raise UserError(f"expected a JPEG quality range (lo, hi) with 1 ≤ lo ≤ hi ≤ 100, "
                            f"received {jpeg_quality}")
        self.jpeg_quality = jpeg_quality
        self.rng = np.random.default_rng(seed)

    def __call__(self, clean: np.ndarray, rng: np.random.Generator | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng if rng is None else rng
        clean = np.asarray(clean, np.float32)
        if clean.ndim != 3 or clean.shape[-1] != 3:
            raise UserError(f"expected an H×W×3 float image in [0, 1], received shape "
                            f"{clean.shape}")
        params = sample_params(rng, self.levels)
        camera = unprocess_linear(clean, params)
        noise = demosaic(self._bayer_noise(camera, params, rng))[: clean.shape[0], : clean.shape[1]]
        if params.white_share > 0:
            white = add_poisson_gaussian(camera, params.shot, params.read, rng) - camera
            noise = np.sqrt(1 - params.white_share) * noise + np.sqrt(params.white_share) * white
        target = reprocess_linear(camera, params)
        noisy = reprocess_linear(camera + noise, params)
        if params.chroma_gain != 1.0 or params.chroma_blur > 0:
            noisy = np.clip(target + reduce_chroma(noisy - target, params.chroma_gain,
                                                   params.chroma_blur), 0.0, 1.0)
        if self.jpeg_quality is not None:
            noisy = _jpeg(noisy, int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1)))
        return noisy, target

    @staticmethod
    def _bayer_noise(camera: np.ndarray, params: CameraParams, rng: np.random.Generator
                     ) -> np.ndarray:
        h, w = camera.shape[:2]
        padded = np.pad(camera, ((0, h % 2), (0, w % 2), (0, 0)), mode="reflect")
        bayer = mosaic(padded)
        noisy = add_poisson_gaussian(bayer, params.shot, params.read, rng)
        if params.bits is not None:
            noisy = quantize(noisy, params.bits)
        return noisy - bayer


def reduce_chroma(noise: np.ndarray, gain: float, blur_sigma: float) -> np.ndarray:
    """An ISP's chroma noise reduction on sRGB noise: keep its luma (channel mean), scale its
    chroma (the rest) by `gain` and blur it with a Gaussian of `blur_sigma` px."""
    import cv2

    luma = noise.mean(axis=-1, keepdims=True)
    chroma = noise - luma
    if blur_sigma > 0:
        chroma = cv2.GaussianBlur(chroma, (0, 0), blur_sigma, borderType=cv2.BORDER_REFLECT_101)
    return (luma + gain * chroma).astype(np.float32)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    from mobiledenoise.data.imageio import from_float

    bgr = from_float(image)[..., ::-1]
    ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV failed to encode a JPEG")
    return cv2.imdecode(buffer, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0


def synthesize_folder(clean_dir: str | Path, out_dir: str | Path, *, copies: int = 1,
                      seed: int = 0, levels: str | NoiseLevels = "camera",
                      jpeg_quality: tuple[int, int] | None = None, overwrite: bool = False) -> int:
    """Write `noisy/` + `clean/` pairs `<stem>_<k>.png` from a folder of clean images.

    Each (image, copy) gets its own generator seeded by (seed, index, k), so the output does
    not depend on which files were written before. Returns the number of pairs written.
    """
    from rich.progress import track

    from mobiledenoise.data.imageio import (from_float, is_image_path, read_image, to_float,
                                            write_image)

    clean_dir, out_dir = Path(clean_dir), Path(out_dir)
    if not clean_dir.is_dir():
        raise UserError(f"expected a folder of clean images, received {clean_dir}; check the path")
    if copies < 1:
        raise UserError(f"expected at least one noisy copy per image, received copies={copies}")
    files = sorted(p for p in clean_dir.iterdir() if p.is_file() and is_image_path(p))
    if not files:
        raise UserError(f"expected clean images (.png, .jpg, ...) in {clean_dir}, found none")
    synth = SyntheticNoise(levels, jpeg_quality=jpeg_quality)
    count = 0
    for index, path in enumerate(track(files, description="synthesizing noise", transient=True)):
        image = to_float(read_image(path))
        for k in range(copies):
            noisy, target = synth(image, np.random.default_rng([seed, index, k]))
            name = f"{path.stem}_{k}.png"
            write_image(out_dir / "noisy" / name, from_float(noisy), overwrite=overwrite)
            write_image(out_dir / "clean" / name, from_float(target), overwrite=overwrite)
            count += 1
    return count
