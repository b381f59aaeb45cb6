"""Images to calibrate and verify an export with: real noisy patches, drawn reproducibly.

- `calibration_pairs(folder, split)`: the pairs of a folder, or only its training scenes
  (the same by-scene split as `mobiledenoise train`, so held-out scenes stay unseen);
- `calibration_patches(pairs, size)`: `count` random crops of the NOISY images, the export's
  INT8 calibration set (optionally part of them clean crops with synthetic camera noise);
- `verification_pair(image, pairs)`: the (noisy, clean-or-None) image an export is checked on;
- `sample_verification_pair()`: the packaged real PolyU crop, what an export is checked on when
  no data is at hand;
- `synthetic_pair()`: a deterministic textured pair (tests, INT8 probes).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from mobiledenoise.errors import UserError

CALIB_PATCHES = 32
VERIFY_SEED = 1234
SPLITS = ("all", "train")


def calibration_pairs(folder: str | Path, split: str = "all") -> list:
    from mobiledenoise.data.pairs import find_pairs, split_by_scene

    if split not in SPLITS:
        raise UserError(f"expected --calib-split {'|'.join(SPLITS)}, received {split!r}")
    pairs = find_pairs(folder)
    return split_by_scene(pairs)[0] if split == "train" else pairs


def calibration_patches(pairs: Sequence, size: tuple[int, int] | None, count: int = CALIB_PATCHES,
                        seed: int = 0, synthetic: float = 0.0) -> Iterator[np.ndarray]:
    """`count` random crops of `size` (whole images where smaller) of the pairs' NOISY images.

    Deterministic for a seed. Images are visited in a seeded random order (not name order,
    which would calibrate on one camera first), cycling when `count` exceeds them; loaded lazily.
    `synthetic` is the fraction of patches whose input is instead the CLEAN crop with synthetic
    camera noise over the wide "camera" range: INT8 ranges are then calibrated for noisier
    photos than the calibration folder's too (activations past the calibrated range clip).
    `size=None` (a dynamic-size export) takes crops of at most 256×256.
    """
    from mobiledenoise.data.imageio import read_image, to_float

    if not pairs:
        raise UserError("expected calibration images, received an empty set; point --calib at "
                        "a folder of real noisy/clean pairs")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))
    noise = None
    if synthetic > 0:
        from mobiledenoise.data.synthetic import SyntheticNoise

        noise = SyntheticNoise(levels="camera")
    for k in range(count):
        pair = pairs[order[k % len(pairs)]]
        use_synthetic = noise is not None and rng.random() < synthetic
        image = to_float(read_image(pair.clean if use_synthetic else pair.noisy))
        h, w = size if size is not None else (min(image.shape[0], 256), min(image.shape[1], 256))
        top = int(rng.integers(0, max(image.shape[0] - h, 0) + 1))
        left = int(rng.integers(0, max(image.shape[1] - w, 0) + 1))
        patch = image[top:top + h, left:left + w]
        if use_synthetic:
            patch = np.clip(noise(patch, rng)[0], 0.0, 1.0)
        yield patch[:, ::-1] if rng.random() < 0.5 else patch


def verification_pair(image: str | Path | None = None,
                      pairs: Sequence | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """`image` (a noisy file; no clean target) if given, else the first pair of `pairs`
    (noisy and its clean), else `sample_verification_pair()`."""
    from mobiledenoise.data.imageio import read_image, to_float

    if image is not None:
        return to_float(read_image(image)), None
    if pairs:
        from mobiledenoise.data.pairs import load_pair

        noisy, clean = load_pair(pairs[0])
        return to_float(noisy), to_float(clean)
    return sample_verification_pair()


def sample_verification_pair() -> tuple[np.ndarray, np.ndarray]:
    """The packaged 256×256 PolyU validation crop (noisy, clean): real camera noise, so an
    export's PSNR check sees the value ranges a photo gives, not a synthetic pattern's."""
    from mobiledenoise.data.imageio import read_image, to_float
    from mobiledenoise.resources import sample_pair

    noisy, clean = sample_pair()
    return to_float(read_image(noisy)), to_float(read_image(clean))


def synthetic_pair(size: tuple[int, int] = (256, 256), sigma: float = 0.04,
                   seed: int = VERIFY_SEED) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic textured (noisy, clean) pair: smooth gradients, stripes, edges, noise."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    clean = np.stack([0.5 + 0.4 * np.sin(xx / 7.0) * np.cos(yy / 11.0),
                      (xx + yy) / (h + w),
                      np.where((xx // 16 + yy // 16) % 2 == 0, 0.8, 0.2)], axis=-1)
    noise = np.random.default_rng(seed).normal(0.0, sigma, clean.shape).astype(np.float32)
    return np.clip(clean + noise, 0, 1).astype(np.float32), clean.astype(np.float32)
