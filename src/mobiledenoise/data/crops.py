"""Cropping and padding an H×W×C image to a size: the one place every caller (the tiled
runner, training validation, export calibration, the benchmarks) takes it from.

Padding reflects the image (real image statistics at the border, unlike zeros), or repeats
the edge when a side is 1 pixel (reflection needs 2); numpy reflects repeatedly when the pad
exceeds the size.
"""

from __future__ import annotations

import numpy as np


def pad_to(image: np.ndarray, height: int, width: int, *, centred: bool = False) -> np.ndarray:
    """`image` padded up to at least height × width: at the bottom and right, or split evenly
    around it when `centred`. Sides already that large are left as they are."""
    ph, pw = max(height - image.shape[0], 0), max(width - image.shape[1], 0)
    if ph == 0 and pw == 0:
        return image
    before = (ph // 2, pw // 2) if centred else (0, 0)
    pad = [(before[0], ph - before[0]), (before[1], pw - before[1])] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, mode="reflect" if min(image.shape[:2]) > 1 else "edge")


def pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """`image` padded at the bottom and right up to multiples of `multiple`."""
    height, width = image.shape[:2]
    return pad_to(image, height + -height % multiple, width + -width % multiple)


def centre_crop(image: np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """The centre height × width (width defaults to height) of `image`; a side smaller than
    asked for is kept whole."""
    width = height if width is None else width
    h, w = image.shape[:2]
    top, left = max(0, (h - height) // 2), max(0, (w - width) // 2)
    return image[top:top + height, left:left + width]


def fit_to_size(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` at exactly (H, W): centre-cropped where larger, reflect-padded (centred) where
    smaller."""
    return pad_to(centre_crop(image, *size), *size, centred=True)
