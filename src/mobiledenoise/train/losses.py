"""Loss registry: L1, L2, Charbonnier, PSNR-loss, MS-SSIM, and weighted sums like
`l1+0.2*msssim`.

Every loss maps (prediction, target) float tensors in [0, 1] of shape (B, H, W, 3) to a scalar.
They are written in keras.ops, so they run on the TensorFlow and the torch backend alike.
"""

from __future__ import annotations

import re

import numpy as np
from keras import ops

from mobiledenoise.errors import UserError

_TERM = re.compile(r"^\s*(?:(?P<weight>\d+(?:\.\d*)?(?:e-?\d+)?)\s*\*\s*)?(?P<name>[a-z_0-9]+)\s*$")


def _l1(pred, target):
    return ops.mean(ops.abs(pred - target))


def _l2(pred, target):
    return ops.mean(ops.square(pred - target))


def _charbonnier(pred, target, eps: float = 1e-3):
    return ops.mean(ops.sqrt(ops.square(pred - target) + eps**2))


def _psnr_loss(pred, target):
    """Negative PSNR of the batch (Megvii 'trained to maximize PSNR'): one MSE over the batch.

    Not the mean of per-image PSNRs: on a patch whose input is already its target (clean-only
    patches, the faintest synthetic noise) the log of its MSE has a gradient ~1/error that
    outweighs every noisy patch, and pins the model to the identity. Measured (Megvii, Table 1
    data mix, 300 steps of 64² patches): per-image PSNR 35.953 dB, also with the MSE floored
    at 8-bit rounding noise, and 35.96 without clean-only patches; this batch PSNR 36.08; L2
    36.11; noisy input 35.95.
    """
    return 10.0 * ops.log(ops.mean(ops.square(pred - target)) + 1e-10) / np.log(10.0)


_MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _msssim(pred, target):
    """1 − MS-SSIM, with as many of the 5 standard scales as the patch size allows. The
    arithmetic of `tf.image.ssim_multiscale` (Gaussian σ 1.5, valid windows, 2×2 average
    pooling, ReLU'd terms), written in keras.ops so it runs on every backend."""
    size = min(int(pred.shape[1]), int(pred.shape[2]))
    filter_size = 11 if size >= 88 else 7
    scales = 1
    while scales < 5 and size // 2**scales >= filter_size:
        scales += 1
    weights = np.array(_MSSSIM_WEIGHTS[:scales]) / sum(_MSSSIM_WEIGHTS[:scales])
    x, y = ops.clip(pred, 0.0, 1.0), ops.clip(target, 0.0, 1.0)
    window = _gaussian_window(filter_size, int(pred.shape[-1]))
    terms = []
    for scale in range(scales):
        if scale:
            x, y = _halve(x), _halve(y)
        ssim, cs = _ssim_per_channel(x, y, window)
        terms.append(ops.relu(ssim if scale == scales - 1 else cs))
    value = 1.0
    for term, weight in zip(terms, weights):
        value = value * ops.power(term, float(weight))
    return 1.0 - ops.mean(value)


def _gaussian_window(size: int, channels: int, sigma: float = 1.5):
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-0.5 * coords**2 / sigma**2)
    window = np.outer(g, g) / np.outer(g, g).sum()
    return np.tile(window[:, :, None, None], (1, 1, channels, 1)).astype("float32")


def _halve(x):
    """2×2 average pooling; an odd side is first padded by mirroring, as TensorFlow does."""
    h, w = int(x.shape[1]), int(x.shape[2])
    if h % 2 or w % 2:
        x = ops.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="symmetric")
    return ops.average_pool(x, 2, 2, padding="valid")


def _ssim_per_channel(x, y, window, max_val: float = 1.0):
    """(SSIM, contrast-structure) per image and channel, averaged over valid windows."""
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2

    def blur(v):
        return ops.depthwise_conv(v, window, 1, padding="valid")

    mean_x, mean_y = blur(x), blur(y)
    num0, den0 = 2.0 * mean_x * mean_y, ops.square(mean_x) + ops.square(mean_y)
    luminance = (num0 + c1) / (den0 + c1)
    num1, den1 = 2.0 * blur(x * y), blur(ops.square(x) + ops.square(y))
    cs = (num1 - num0 + c2) / (den1 - den0 + c2)
    return ops.mean(luminance * cs, axis=(1, 2)), ops.mean(cs, axis=(1, 2))


LOSSES = {
    "l1": _l1,
    "l2": _l2,
    "mse": _l2,
    "charbonnier": _charbonnier,
    "psnr": _psnr_loss,
    "msssim": _msssim,
}


def parse_loss(spec: str) -> list[tuple[float, str]]:
    """`'l1+0.2*msssim'` -> [(1.0, 'l1'), (0.2, 'msssim')]; unknown names are a UserError."""
    terms = []
    for part in spec.split("+"):
        match = _TERM.match(part.lower())
        if not match or match["name"] not in LOSSES:
            raise UserError(f"expected a loss like 'l1' or 'l1+0.2*msssim' built from "
                            f"{', '.join(sorted(LOSSES))}, received {spec!r}")
        terms.append((float(match["weight"] or 1.0), match["name"]))
    return terms


def make_loss(spec: str):
    """A callable (pred, target) -> scalar for a loss spec string."""
    terms = parse_loss(spec)

    def loss(pred, target):
        total = 0.0
        for weight, name in terms:
            total += weight * LOSSES[name](pred, target)
        return total

    return loss
