"""What a camera's noise looks like, measured on an aligned (noisy, clean) pair.

`measure_pair(noisy, clean)` returns `NoiseStats` with the four things that tell real sRGB noise
from a synthetic model (issue 14, item 1); `benchmarks/noise_realism.py` compares real sets with
the synthetic pipeline on them:

1. `nlf`: std of noisy - clean per channel in 16 bins of the CLEAN intensity (8-bit units;
   NaN where a bin holds fewer than `MIN_BIN_PIXELS` pixels), and `std` over the whole image.
2. `corr_h`, `corr_v`: spatial autocorrelation of noisy - clean at lags 1-3, horizontal and
   vertical (each channel's noise minus its mean, averaged over channels). White noise gives 0;
   demosaicked, ISP-filtered or JPEG-compressed noise 0.4-0.7 at lag 1.
3. `chroma_ratio`: variance of the noise's chroma against its luma, with luma = the mean of
   the three channels' noise and chroma = each channel minus it (variance averaged over the
   channels). Noise independent per channel gives 2; an ISP that denoises colour drives it down.
4. JPEG effects: `blockiness` of the NOISY image, the mean absolute gradient across 8-px block
   boundaries over the mean absolute gradient elsewhere (both directions; 1 = no blocking; the
   PolyU crops read ~1.5), the same ratio on the noise itself (`noise_blockiness`: textured
   content dilutes the first, not this one), and `jpeg_quality(path)`, the IJG quality whose luminance table best
   matches a JPEG file's (None for other formats).

Images may be uint8 or float in 0-1 (`imageio.to_float`); everything is in 8-bit units.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mobiledenoise.data.noise_level import BIN_EDGES
from mobiledenoise.errors import UserError

LAGS = (1, 2, 3)
MIN_BIN_PIXELS = 500


@dataclass(frozen=True)
class NoiseStats:
    std: tuple[float, float, float]  # per channel, 8-bit units
    nlf: tuple[tuple[float, ...], ...]  # [channel][bin] std against clean intensity (BIN_EDGES)
    corr_h: tuple[float, ...]  # lags LAGS
    corr_v: tuple[float, ...]
    chroma_ratio: float  # chroma variance / luma variance of the noise
    blockiness: float  # 8×8 boundary gradient / other gradients, noisy image
    noise_blockiness: float  # the same on noisy - clean (content-independent)

    @property
    def sigma(self) -> float:
        return float(np.mean(self.std))

    def to_dict(self) -> dict:
        out = asdict(self)
        out["nlf"] = [[None if np.isnan(v) else round(v, 4) for v in ch] for ch in self.nlf]
        out["sigma"] = round(self.sigma, 4)
        return out


def _as_8bit(image: np.ndarray, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise UserError(f"expected an H×W×3 {what} image, received shape {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float32)
    if np.issubdtype(image.dtype, np.floating):
        return image.astype(np.float32) * 255.0
    raise UserError(f"expected a uint8 or float {what} image, received dtype {image.dtype}")


def measure_pair(noisy: np.ndarray, clean: np.ndarray) -> NoiseStats:
    """The noise statistics of an aligned pair (see the module docstring)."""
    n, c = _as_8bit(noisy, "noisy"), _as_8bit(clean, "clean")
    if n.shape != c.shape:
        raise UserError(f"expected noisy and clean images of equal shape, received {n.shape} "
                        f"and {c.shape}; align or crop them first")
    e = n - c
    e = e - e.mean(axis=(0, 1))
    return NoiseStats(
        std=tuple(float(v) for v in e.reshape(-1, 3).std(axis=0)),
        nlf=noise_level_function(e, c),
        corr_h=tuple(autocorrelation(e, lag, axis=1) for lag in LAGS),
        corr_v=tuple(autocorrelation(e, lag, axis=0) for lag in LAGS),
        chroma_ratio=chroma_ratio(e),
        blockiness=blockiness(n),
        noise_blockiness=blockiness(e))


def noise_level_function(noise: np.ndarray, clean: np.ndarray) -> tuple[tuple[float, ...], ...]:
    """Std of `noise` per channel in bins of `clean` intensity (8-bit units, BIN_EDGES)."""
    n_bins = len(BIN_EDGES) - 1
    out = []
    for ch in range(3):
        bins = np.clip((clean[..., ch] // 16).astype(np.intp), 0, n_bins - 1).ravel()
        values = noise[..., ch].ravel().astype(np.float64)
        count = np.bincount(bins, minlength=n_bins)
        total = np.bincount(bins, values, minlength=n_bins)
        squares = np.bincount(bins, values**2, minlength=n_bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = squares / count - (total / count) ** 2
        std = np.sqrt(np.maximum(var, 0.0))
        out.append(tuple(float(v) if k >= MIN_BIN_PIXELS else float("nan")
                         for v, k in zip(std, count)))
    return tuple(out)


def autocorrelation(noise: np.ndarray, lag: int, axis: int) -> float:
    """Correlation of `noise` (H×W×C, zero-mean per channel) with itself shifted by `lag` pixels
    along `axis`, averaged over channels."""
    a = np.moveaxis(noise, axis, 0)
    head, tail = a[:-lag], a[lag:]
    per_channel = (head * tail).mean(axis=(0, 1)) / np.maximum((a * a).mean(axis=(0, 1)), 1e-12)
    return float(per_channel.mean())


def chroma_ratio(noise: np.ndarray) -> float:
    """Variance of the noise's chroma (channel minus channel mean) over that of its luma."""
    luma = noise.mean(axis=-1, keepdims=True)
    chroma = noise - luma
    return float((chroma**2).mean() / max(float((luma**2).mean()), 1e-12))


def blockiness(image: np.ndarray) -> float:
    """Mean |gradient| across 8-px block boundaries over mean |gradient| elsewhere (H×W×3,
    8-bit units; 1.0 = no JPEG blocking)."""
    x = np.asarray(image, np.float32).mean(axis=-1)
    ratios = []
    for g in (np.abs(np.diff(x, axis=1)), np.abs(np.diff(x, axis=0)).T):
        boundary = np.zeros(g.shape[1], bool)
        boundary[7::8] = True  # between pixel 8k+7 and 8k+8
        inside = g[:, ~boundary].mean()
        ratios.append(g[:, boundary].mean() / max(float(inside), 1e-12))
    return float(np.mean(ratios))


# IJG (libjpeg) standard luminance quantisation table, scaled per quality as libjpeg does.
_IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])


def ijg_luma_table(quality: int) -> np.ndarray:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((_IJG_LUMA * scale + 50) // 100, 1, 255)


def jpeg_quality(path: str | Path) -> int | None:
    """IJG quality (1-100) whose luminance table is closest to the JPEG file's; None when the
    file is not a JPEG."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            tables = getattr(image, "quantization", None)
            if image.format != "JPEG" or not tables:
                return None
            luma = np.asarray(tables[0], np.int64)
    except (OSError, ValueError):
        return None
    # Pillow gives the table in natural (row-major) order since 8.3, as _IJG_LUMA is.
    errors = [np.abs(ijg_luma_table(q) - luma).sum() for q in range(1, 101)]
    return int(np.argmin(errors)) + 1
