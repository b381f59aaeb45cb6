"""Loss registry: L1, L2, Charbonnier, PSNR-loss, MS-SSIM, and weighted sums like
`l1+0.2*msssim`.

Every loss maps (prediction, target) float tensors in [0, 1] of shape (B, H, W, 3) to a scalar.
"""

from __future__ import annotations

import re

from mobiledenoise.errors import UserError

_TERM = re.compile(r"^\s*(?:(?P<weight>\d+(?:\.\d*)?(?:e-?\d+)?)\s*\*\s*)?(?P<name>[a-z_0-9]+)\s*$")


def _l1(pred, target):
    import tensorflow as tf

    return tf.reduce_mean(tf.abs(pred - target))


def _l2(pred, target):
    import tensorflow as tf

    return tf.reduce_mean(tf.square(pred - target))


def _charbonnier(pred, target, eps: float = 1e-3):
    import tensorflow as tf

    return tf.reduce_mean(tf.sqrt(tf.square(pred - target) + eps**2))


def _psnr_loss(pred, target):
    """Negative PSNR per image, averaged (Megvii 'trained to maximize PSNR')."""
    import tensorflow as tf

    mse = tf.reduce_mean(tf.square(pred - target), axis=[1, 2, 3])
    return tf.reduce_mean(10.0 * tf.math.log(mse + 1e-10) / tf.math.log(10.0))


_MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _msssim(pred, target):
    """1 − MS-SSIM, with as many of the 5 standard scales as the patch size allows."""
    import tensorflow as tf

    size = min(int(pred.shape[1]), int(pred.shape[2]))
    filter_size = 11 if size >= 88 else 7
    scales = 1
    while scales < 5 and size // 2**scales >= filter_size:
        scales += 1
    weights = _MSSSIM_WEIGHTS[:scales]
    weights = [w / sum(weights) for w in weights]
    pred, target = tf.clip_by_value(pred, 0.0, 1.0), tf.clip_by_value(target, 0.0, 1.0)
    value = tf.image.ssim_multiscale(pred, target, 1.0, power_factors=weights,
                                     filter_size=filter_size)
    return 1.0 - tf.reduce_mean(value)


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
