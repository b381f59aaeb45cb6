"""Blind noise estimation for sRGB photos: per-channel std in 8-bit units and a noise level function.

`estimate_noise(image)` measures the TOTAL noise variance, low frequencies included. Real sRGB
noise is spatially correlated (demosaicking, ISP denoising, JPEG: lag-1 correlation 0.46 on
SIDD phones, 0.7 on the PolyU DSLR JPEGs), so high-pass / wavelet MAD estimators (scikit-image's
`estimate_sigma`) see only its high-frequency part and underestimate it 2-8×.

Method (per channel, 8-bit units):
1. The image is cut into 16×32 tiles, each split into two 16×16 halves (at most `MAX_PAIRS`
   tiles, drawn at random with a fixed seed, so a 12 MP photo costs ~0.1-0.2 s). Tiles with a
   half more than 25 % clipped (0 or 255: a blown highlight, a crushed shadow) are dropped;
   partly clipped ones stay, since heavy noise in dark areas clips often and the truth
   std(noisy - clean) is measured on the clipped image too.
2. Each half gets a local plane fit (mean + x and y slopes); its residual variance (divided by
   256 - 3) is its "score", its mean its intensity.
3. Selection without selection bias: a half is SELECTED by its score, but MEASURED by its
   partner (the other half of its tile), whose noise is independent of the selector's while its
   texture is alike. Picking the lowest-variance blocks and averaging their own variances would
   be biased low by an amount that depends on the noise's correlation.
4. Per intensity bin (16 bins of 16 levels, by the measured half's mean): partners of the
   halves with a score in the bin's lowest tenth (a quarter read clean textured photos ~20 %
   higher and PolyU no better); their variances are averaged after dropping
   those above 4× their median (an edge in the partner). That gives the noise level function.
5. Texture guard: a bin where every tile is textured reads high. Noise std changes smoothly with
   intensity, so each bin is capped by its neighbours' estimates × 1.3 per bin (a lower
   Lipschitz envelope in log std).
6. Correlation correction: a plane fit on a 16×16 block also removes the low-frequency part of
   correlated noise (9-15 % of its variance at lag-1 correlation 0.6-0.7). The residuals' lag-1
   correlation is measured on the measured halves and inverted through a separable exponential
   correlation model (`_correlation_table`) into the share of variance the fit kept; the
   variances are divided by it.
7. The channel's std is sqrt(sum over bins of (pixel share of the bin) × NLF variance), bins
   without an estimate interpolated from their neighbours: it estimates std(noisy - clean) over
   the whole image, which is what a per-image noise level means.

Known limits: it measures the noise in flat regions; JPEG compression that flattens noise there
(PolyU's Q75 crops) makes it read low against std(noisy - clean), which also includes JPEG
error at edges and texture. A photo with no flat region reads high (texture counts as noise).
Numbers against the truth on PolyU and sidd_mini: `benchmarks/noise_estimate.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mobiledenoise.errors import UserError

TILE = 16  # side of a measured half; a tile is TILE × 2·TILE
MIN_SIZE = 2 * TILE  # smallest accepted height and width
MAX_PAIRS = 4000  # tiles sampled at most (speed on large photos)
BIN_EDGES = tuple(float(e) for e in np.linspace(0, 256, 17))  # intensity bins, 8-bit units
SELECT_QUANTILE = 0.1  # a bin's halves with a score in its lowest tenth are selectors
MIN_TILES = 16  # halves a bin needs for an NLF value (else NaN)
MIN_SELECTED = 4  # selectors per bin at least (small images: a larger share than a tenth)
TRIM = 4.0  # partners above TRIM × median variance are dropped (edges)
ENVELOPE = 1.3  # max std ratio between neighbouring bins
MAX_CLIPPED = 0.25  # halves with more clipped (0 or 255) pixels are not used
MAX_CORRELATION = 0.8  # cap on the modelled lag-1 correlation (texture also reads as correlation)


@dataclass(frozen=True)
class NoiseLevelFunction:
    """Noise std per channel (8-bit units) in intensity bins `edges` (NaN: too few samples)."""

    edges: tuple[float, ...]
    std: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]  # [channel][bin]
    counts: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # halves per bin

    def to_dict(self) -> dict:
        return {"edges": list(self.edges),
                "std": [[None if np.isnan(v) else round(v, 4) for v in ch] for ch in self.std],
                "counts": [list(ch) for ch in self.counts]}


@dataclass(frozen=True)
class NoiseEstimate:
    """`std`: per-channel (R, G, B) noise std in 8-bit units; `sigma`: their mean."""

    std: tuple[float, float, float]
    sigma: float
    nlf: NoiseLevelFunction
    correlation: tuple[float, float, float]  # lag-1 correlation of the noise, model-corrected

    def to_dict(self) -> dict:
        return {"std": [round(s, 4) for s in self.std], "sigma": round(self.sigma, 4),
                "correlation": [round(c, 3) for c in self.correlation],
                "nlf": self.nlf.to_dict()}


def estimate_noise(image: np.ndarray, *, seed: int = 0) -> NoiseEstimate:
    """Estimate the noise of an sRGB image.

    `image`: H×W×3 (or H×W, gray), uint8 (0-255), uint16 (0-65535, scaled to 8-bit units) or
    float (0-1, as `imageio.to_float` gives). Height and width must be at least 32. Results are
    in 8-bit units whatever the input type.
    """
    x = _as_8bit_units(image)
    pairs = _sample_tiles(x, np.random.default_rng(seed))  # N, 2, 3, T, T
    hist = _pixel_shares(x)
    stds, nlfs, counts, corrs = [], [], [], []
    for c in range(3):
        std, nlf, count, corr = _channel(pairs[:, :, c], hist[c])
        stds.append(std), nlfs.append(nlf), counts.append(count), corrs.append(corr)
    std = tuple(float(s) for s in stds)
    return NoiseEstimate(std=std, sigma=float(np.mean(std)),
                         nlf=NoiseLevelFunction(edges=BIN_EDGES,
                                                std=tuple(tuple(float(v) for v in n) for n in nlfs),
                                                counts=tuple(tuple(int(v) for v in n) for n in counts)),
                         correlation=tuple(float(v) for v in corrs))


# --- input ------------------------------------------------------------------------------------

def _as_8bit_units(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None].repeat(3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise UserError(f"expected an H×W×3 RGB image, received an array of shape {image.shape}; "
                        "pass an RGB image")
    h, w = image.shape[:2]
    if h < MIN_SIZE or w < MIN_SIZE:
        raise UserError(f"expected an image of at least {MIN_SIZE}×{MIN_SIZE} pixels, received "
                        f"{w}×{h}; use a larger image")
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 257.0
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise UserError("expected finite pixel values, received NaN or infinity; "
                            "clean the image first")
        return image.astype(np.float32) * 255.0
    raise UserError(f"expected a uint8, uint16 or float image, received dtype {image.dtype}; "
                    "convert it first")


def _sample_tiles(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Tiles of 16×32 as halves: float32 array (N, 2, 3, T, T), at most MAX_PAIRS of them."""
    t = TILE
    rows, cols = x.shape[0] // t, x.shape[1] // (2 * t)
    view = x[: rows * t, : cols * 2 * t].reshape(rows, t, cols, 2, t, 3)
    index = np.arange(rows * cols)
    if index.size > MAX_PAIRS:
        index = np.sort(rng.choice(index, MAX_PAIRS, replace=False))
    tiles = view[index // cols, :, index % cols]  # N, T, 2, T, 3
    return np.ascontiguousarray(tiles.transpose(0, 2, 4, 1, 3), dtype=np.float32)


def _pixel_shares(x: np.ndarray) -> np.ndarray:
    """Share of pixels per intensity bin, per channel (3, bins), from a subsample."""
    step = max(1, int(np.sqrt(x.shape[0] * x.shape[1] / 2.5e5)))
    sub = x[::step, ::step].reshape(-1, 3)
    if sub.dtype == np.uint8:
        bins = (sub >> 4).astype(np.intp)
    else:
        bins = np.clip(sub // 16, 0, len(BIN_EDGES) - 2).astype(np.intp)
    counts = np.stack([np.bincount(bins[:, c], minlength=len(BIN_EDGES) - 1) for c in range(3)])
    return counts / counts.sum(axis=1, keepdims=True)


# --- one channel -------------------------------------------------------------------------------

def _plane_residuals(halves: np.ndarray) -> np.ndarray:
    """Residual of a least-squares plane fit per T×T block (last two axes)."""
    t = halves.shape[-1]
    c = np.arange(t, dtype=np.float32) - (t - 1) / 2
    norm = t * float((c**2).sum())
    mean = halves.mean(axis=(-1, -2), keepdims=True)
    gx = (halves * c).sum(axis=(-1, -2), keepdims=True) / norm
    gy = (halves * c[:, None]).sum(axis=(-1, -2), keepdims=True) / norm
    return halves - mean - gx * c - gy * c[:, None]


def _channel(halves: np.ndarray, shares: np.ndarray):
    """halves: (N, 2, T, T) of one channel -> (std, nlf std per bin, halves per bin, corr)."""
    n_bins = len(BIN_EDGES) - 1
    t = halves.shape[-1]
    clipped = ((halves <= 0) | (halves >= 255)).mean(axis=(-1, -2)) > MAX_CLIPPED  # N, 2
    resid = _plane_residuals(halves)
    score = (resid**2).sum(axis=(-1, -2)) / (t * t - 3)
    lag1 = ((resid[..., :, 1:] * resid[..., :, :-1]).mean(axis=(-1, -2))
            + (resid[..., 1:, :] * resid[..., :-1, :]).mean(axis=(-1, -2))) / 2
    mean = halves.mean(axis=(-1, -2))
    # selector = one half, measured = the other; both orders.
    usable = ~clipped[:, 0] & ~clipped[:, 1]
    sel = np.concatenate([score[usable, 0], score[usable, 1]])
    meas = np.concatenate([score[usable, 1], score[usable, 0]])
    meas_lag1 = np.concatenate([lag1[usable, 1], lag1[usable, 0]])
    meas_mean = np.concatenate([mean[usable, 1], mean[usable, 0]])
    bins = np.clip((meas_mean // 16).astype(np.int64), 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    if sel.size == 0:  # every tile clipped: no measurable noise
        return 0.0, np.full(n_bins, np.nan), counts, 0.0

    var = np.full(n_bins, np.nan)
    chosen = np.zeros(sel.size, bool)
    full = [k for k in range(n_bins) if counts[k] >= MIN_TILES]
    pooled = not full  # small image: one group for all intensities
    for k in full or [None]:
        group = np.ones(sel.size, bool) if k is None else bins == k
        share = max(SELECT_QUANTILE, min(1.0, MIN_SELECTED / group.sum()))
        pick = group & (sel <= np.quantile(sel[group], share))
        values = meas[pick]
        keep = values <= TRIM * np.median(values)
        chosen[np.flatnonzero(pick)[keep]] = True
        if k is not None:
            var[k] = values[keep].mean()
    ratio = meas_lag1[chosen] / np.maximum(meas[chosen] * (t * t - 3) / (t * t), 1e-12)
    corr = min(_lag1_model(float(np.median(ratio))), MAX_CORRELATION)
    kept = _kept_share(corr)
    if pooled:
        value = float(meas[chosen].mean()) / kept
        return float(np.sqrt(value)), np.full(n_bins, np.nan), counts, corr

    std = np.sqrt(var / kept)
    ok = ~np.isnan(std)
    k = np.arange(n_bins)
    envelope = np.array([np.nanmin(std * ENVELOPE ** np.abs(k - j)) for j in range(n_bins)])
    std = np.where(ok, np.minimum(std, envelope), np.nan)
    centres = (np.array(BIN_EDGES[:-1]) + np.array(BIN_EDGES[1:])) / 2
    filled = np.interp(centres, centres[ok], std[ok] ** 2)
    return float(np.sqrt((shares * filled).sum())), std, counts, corr


# --- correlation model ----------------------------------------------------------------------

# `_correlation_table()` evaluated once (tests/test_noise_level.py checks it is up to date): it
# costs ~1 s of 256×256 matrix products, too slow for every call of the CLI.
_TABLE_R = tuple(round(0.05 * i, 2) for i in range(20))
_TABLE_LAG1 = (-0.0113, 0.0370, 0.0851, 0.1330, 0.1806, 0.2278, 0.2747, 0.3211, 0.3669, 0.4120,
               0.4564, 0.4997, 0.5417, 0.5821, 0.6206, 0.6564, 0.6890, 0.7174, 0.7402, 0.7554)
_TABLE_KEPT = (1.0000, 0.9977, 0.9949, 0.9915, 0.9874, 0.9825, 0.9764, 0.9688, 0.9594, 0.9476,
               0.9325, 0.9131, 0.8879, 0.8545, 0.8100, 0.7498, 0.6680, 0.5567, 0.4077, 0.2168)


def _correlation_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For separable exponential noise correlation r^|d| on a TILE×TILE block after a plane
    fit: (r, residual lag-1 correlation, share of variance kept relative to white noise)."""
    t = TILE
    c = np.arange(t) - (t - 1) / 2
    basis = np.stack([np.ones(t * t), np.tile(c, t), np.repeat(c, t)], axis=1)
    proj = np.eye(t * t) - basis @ np.linalg.pinv(basis)
    right = np.array([(i % t) < t - 1 for i in range(t * t)])
    rs = np.array(_TABLE_R)
    lags, kept = [], []
    for r in rs:
        one = r ** np.abs(np.subtract.outer(np.arange(t), np.arange(t)))
        cov = proj @ np.kron(one, one) @ proj
        variance = np.trace(cov) / (t * t)
        horizontal = np.diagonal(cov, 1)[right[:-1]].mean()
        lags.append(horizontal / variance)
        kept.append(np.trace(cov) / (t * t - 3))
    return rs, np.array(lags), np.array(kept)


def _lag1_model(residual_lag1: float) -> float:
    """Noise lag-1 correlation r whose plane-fit residuals show `residual_lag1`."""
    return float(np.interp(residual_lag1, _TABLE_LAG1, _TABLE_R))


def _kept_share(r: float) -> float:
    return float(np.interp(r, _TABLE_R, _TABLE_KEPT))
