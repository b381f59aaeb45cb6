"""Synthetic handheld bursts with known answers, for testing the burst dataset builder.

A burst is made from one clean sRGB image the way a phone would record a static scene:

1. Per frame, signal-dependent noise is drawn **in the reference geometry**: Poisson-Gaussian
   noise with the heteroscedastic Gaussian approximation ``var = shot_noise * x + read_noise**2``
   on the image values x in [0, 1], treated as linear-ish. No gamma curve is applied on purpose:
   through a gamma the mean of noisy frames is biased away from the clean image (Jensen), and
   that bias would hide the registration errors the tests are meant to measure. These are the
   "perfectly aligned noisy frames"; their mean converges to the clean image.
2. Each aligned noisy frame is then moved by its own small hand-shake transform (a rotation of
   up to ``max_rotation_deg`` about the image centre plus a shift of up to ``max_shift`` px)
   with bicubic interpolation, borders reflected, and rounded to 8 or 16 bits.

So ``Burst.ground_truth`` — the mean of the aligned noisy frames of the *good* frames — is
well defined: the same noise realisations the builder sees, without any registration error.
The deliberately bad frames (blurred, shifted) are left out of it, because a perfect builder
drops them too. The reference frame (``n // 2``, the builder's "middle" choice) has the
identity transform, so the builder's output lies in the clean image's geometry.

Bad frames: a *blurred* frame sees the clean image through a Gaussian blur (σ = 2.5, as an
optical blur, before the noise); a *shifted* frame is moved 40 px and rotated 4° — far beyond
any hand shake the builder accepts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mobiledenoise.data.imageio import write_image
from mobiledenoise.errors import UserError

BLUR_SIGMA = 2.5
FAR_SHIFT_PX = 40.0
FAR_ROTATION_DEG = 4.0
SAMPLE_SCENES = ("astronaut", "chelsea", "coffee", "rocket")  # bundled with scikit-image


@dataclass(frozen=True)
class Burst:
    frames: list[np.ndarray]  # n × (H×W×3 uint8 or uint16), as the camera would store them
    transforms: np.ndarray  # n×2×3: frame(M·p) = aligned(p), p = (x, y, 1) in the reference
    ground_truth: np.ndarray  # H×W×3 float32 in [0, 1]: mean of the good aligned noisy frames
    clean: np.ndarray  # the source image, H×W×3 uint8
    reference: int
    blurred: tuple[int, ...]
    shifted: tuple[int, ...]

    @property
    def good(self) -> list[int]:
        bad = set(self.blurred) | set(self.shifted)
        return [i for i in range(len(self.frames)) if i not in bad]


def hand_shake(shape: tuple[int, int], dx: float, dy: float, angle_deg: float) -> np.ndarray:
    """2×3 affine matrix: rotation by `angle_deg` about the image centre, then a (dx, dy) shift."""
    h, w = shape
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle_deg, 1.0)
    matrix[:, 2] += (dx, dy)
    return matrix


def make_burst(clean: np.ndarray, n: int = 20, *, max_shift: float = 3.0,
               max_rotation_deg: float = 0.5, read_noise: float = 0.01, shot_noise: float = 0.004,
               blurred: Sequence[int] = (), shifted: Sequence[int] = (), bits: int = 8,
               seed: int = 0) -> Burst:
    """A burst of `n` noisy, hand-shaken frames of `clean` (H×W×3 uint8); see module docstring."""
    clean = _check_clean(clean)
    if n < 2:
        raise UserError(f"expected a burst of at least 2 frames, received n={n}")
    if bits not in (8, 16):
        raise UserError(f"expected bits 8 or 16, received {bits}")
    bad = [i for i in (*blurred, *shifted) if not 0 <= i < n]
    reference = n // 2
    if bad or reference in (*blurred, *shifted):
        raise UserError(f"expected bad-frame indices in 0..{n - 1} other than the reference "
                        f"{reference}, received blurred={list(blurred)} shifted={list(shifted)}")
    rng = np.random.default_rng(seed)
    linear = clean.astype(np.float32) / 255.0
    blurred_linear = cv2.GaussianBlur(linear, (0, 0), BLUR_SIGMA)
    dtype, scale = (np.uint8, 255.0) if bits == 8 else (np.uint16, 65535.0)
    h, w = clean.shape[:2]
    frames, transforms, total = [], [], np.zeros(clean.shape, np.float64)
    for i in range(n):
        signal = blurred_linear if i in blurred else linear
        aligned = _add_noise(signal, read_noise, shot_noise, rng)
        matrix = _frame_transform(i, reference, (h, w), max_shift, max_rotation_deg,
                                  far=i in shifted, rng=rng)
        moved = cv2.warpAffine(aligned, matrix, (w, h), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REFLECT101)
        frames.append(np.clip(np.rint(moved * scale), 0, scale).astype(dtype))
        transforms.append(matrix)
        if i not in blurred and i not in shifted:
            total += aligned
    good = n - len(set(blurred) | set(shifted))
    return Burst(frames, np.array(transforms), (total / good).astype(np.float32), clean,
                 reference, tuple(blurred), tuple(shifted))


def write_burst(burst: Burst, folder: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Write the frames as `frame_000.png`... plus `burst.json` (the true transforms)."""
    folder = Path(folder)
    paths = [write_image(folder / f"frame_{i:03d}.png", frame, overwrite=overwrite)
             for i, frame in enumerate(burst.frames)]
    truth = {"reference": burst.reference, "blurred": list(burst.blurred),
             "shifted": list(burst.shifted), "transforms": burst.transforms.round(5).tolist()}
    (folder / "burst.json").write_text(json.dumps(truth, indent=1))
    return paths


def sample_scene(index: int, size: int = 256) -> np.ndarray:
    """A natural size×size×3 uint8 image: the centre square of a scikit-image sample, resized."""
    from skimage import data

    if size < 64:
        raise UserError(f"expected a scene size of at least 64 px, received {size}")
    image = getattr(data, SAMPLE_SCENES[index % len(SAMPLE_SCENES)])()
    h, w = image.shape[:2]
    side = min(h, w)
    square = image[(h - side) // 2:(h + side) // 2, (w - side) // 2:(w + side) // 2]
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)


def _check_clean(clean: np.ndarray) -> np.ndarray:
    clean = np.asarray(clean)
    if clean.dtype != np.uint8 or clean.ndim != 3 or clean.shape[-1] != 3:
        raise UserError(f"expected a clean H×W×3 uint8 image, received dtype {clean.dtype} "
                        f"shape {clean.shape}; convert it with imageio.from_float")
    return clean


def _add_noise(linear: np.ndarray, read_noise: float, shot_noise: float,
               rng: np.random.Generator) -> np.ndarray:
    std = np.sqrt(shot_noise * linear + read_noise**2)
    noisy = linear + std * rng.standard_normal(linear.shape, dtype=np.float32)
    return np.clip(noisy, 0.0, 1.0)


def _frame_transform(i: int, reference: int, shape: tuple[int, int], max_shift: float,
                     max_rotation_deg: float, *, far: bool, rng: np.random.Generator
                     ) -> np.ndarray:
    if i == reference:
        return hand_shake(shape, 0.0, 0.0, 0.0)
    if far:
        angle = rng.uniform(0, 2 * math.pi)
        return hand_shake(shape, FAR_SHIFT_PX * math.cos(angle), FAR_SHIFT_PX * math.sin(angle),
                          FAR_ROTATION_DEG)
    dx, dy = rng.uniform(-max_shift, max_shift, size=2)
    return hand_shake(shape, dx, dy, rng.uniform(-max_rotation_deg, max_rotation_deg))
