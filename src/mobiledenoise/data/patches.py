"""Training patches: random aligned crops, flips/rotations, mixup and synthetic camera noise,
served as NumPy batches (no TensorFlow: the torch backend trains from the same batches).

Every batch is a pure function of (seed, step): sample i of batch k draws its image, crop
position and augmentations from `numpy.random.default_rng([seed, k, i])`. So resuming a killed
run at step k gives exactly the batches an uninterrupted run would have seen — no iterator
state to save — batches can be made in parallel without changing their content, and a worker
of a cluster makes only its own share of the global batch (`batch(step, shard, shards)`), which
is the same samples a single process would have drawn.

Images are decoded on demand and kept in a least-recently-used cache bounded in megabytes,
so full-size photos are never all in memory at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mobiledenoise.data.imageio import to_float
from mobiledenoise.data.pairs import Pair, load_pair
from mobiledenoise.errors import UserError


@dataclass(frozen=True)
class PatchConfig:
    patch_size: int = 128
    batch_size: int = 8
    flips: bool = True  # random horizontal/vertical flips and 90° rotations
    mixup_prob: float = 0.0  # probability a sample is blended with another (Megvii)
    mixup_alpha: float = 1.2  # Beta(alpha, alpha) blending weight
    synthetic_prob: float = 0.0  # probability the noisy input is synthetic camera noise
    synthetic_levels: str = "camera"
    synthetic_jpeg: tuple[int, int] | None = None  # JPEG quality range for synthetic inputs
    synthetic_zoom: float = 1.0  # clean-only images: crop up to this × larger, shrink to the patch
    clean_only_share: float | None = None  # fraction of draws from clean-only images (None: by count)
    cache_mb: int = 2048


class ImageCache:
    """Decoded (noisy, clean) pairs at their file bit depth (uint8/uint16: 4× smaller than
    float32, so a whole set of full-size photos fits), least recently used dropped past
    `max_bytes`."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[Pair, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, pair: Pair) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if pair in self._items:
                self._items.move_to_end(pair)
                return self._items[pair]
        item = load_pair(pair)
        size = _nbytes(item)
        with self._lock:
            self._items[pair] = item
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= _nbytes(dropped)
        return item


def _nbytes(item: tuple[np.ndarray, np.ndarray]) -> int:
    """Memory of a cached pair; a clean-only pair holds one array twice."""
    noisy, clean = item
    return clean.nbytes if noisy is clean else noisy.nbytes + clean.nbytes


class PatchSampler:
    """`batch(step)` -> (noisy, clean) float32 arrays of shape (B, P, P, 3)."""

    def __init__(self, pairs: list[Pair], config: PatchConfig, seed: int = 0):
        if not pairs:
            raise UserError("expected at least one training pair, received none; check --data")
        self.pairs = list(pairs)
        self.config = config
        self._real = [p for p in self.pairs if p.noisy != p.clean]
        self._clean_only = [p for p in self.pairs if p.noisy == p.clean]
        self.seed = seed
        self.cache = ImageCache(config.cache_mb * 2**20)
        self._synthetic = None
        if config.synthetic_prob > 0 or any(p.noisy == p.clean for p in pairs):
            from mobiledenoise.data.synthetic import SyntheticNoise

            jpeg = tuple(config.synthetic_jpeg) if config.synthetic_jpeg else None
            self._synthetic = SyntheticNoise(levels=config.synthetic_levels, jpeg_quality=jpeg)

    def batch(self, step: int, shard: int = 0, shards: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Batch `step`, or its `shard`-th of `shards` equal parts (one per replica)."""
        size = self.config.batch_size // shards
        first = shard * size
        samples = [self._sample(np.random.default_rng([self.seed, int(step), i]))
                   for i in range(first, first + size)]
        noisy = np.stack([s[0] for s in samples]).astype(np.float32)
        clean = np.stack([s[1] for s in samples]).astype(np.float32)
        return noisy, clean

    def _sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        noisy, clean, clean_only = self._crop(rng)
        if self._synthetic is not None and (clean_only or rng.random() < self.config.synthetic_prob):
            noisy, clean = self._synthetic(clean, rng)
        if self.config.mixup_prob > 0 and rng.random() < self.config.mixup_prob:
            other_noisy, other_clean, _ = self._crop(rng)
            lam = rng.beta(self.config.mixup_alpha, self.config.mixup_alpha)
            noisy = lam * noisy + (1 - lam) * other_noisy
            clean = lam * clean + (1 - lam) * other_clean
        return noisy, clean

    def _crop(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, bool]:
        """A random aligned crop, flipped/rotated; the flag marks a clean-only image."""
        pair = self._draw_pair(rng)
        noisy, clean = self.cache.get(pair)
        clean_only = pair.noisy == pair.clean
        size = self.config.patch_size
        if clean_only and self.config.synthetic_zoom > 1:
            # Shrinking a larger crop of a clean photo gives sharper, more detailed targets
            # (less of the source's own noise and JPEG blur): texture a model must keep.
            crop = self._zoomed_crop(clean, pair, size, rng.uniform(1.0, self.config.synthetic_zoom), rng)
            return crop, crop, True
        h, w = noisy.shape[:2]
        if h < size or w < size:
            raise UserError(f"expected images of at least {size}x{size} for patch_size {size}, "
                            f"received {pair.name} of {h}x{w}; lower --patch-size")
        y, x = rng.integers(h - size + 1), rng.integers(w - size + 1)
        noisy = to_float(noisy[y:y + size, x:x + size])
        clean = to_float(clean[y:y + size, x:x + size])
        if self.config.flips:
            k, flip = rng.integers(4), rng.random() < 0.5
            noisy, clean = np.rot90(noisy, k), np.rot90(clean, k)
            if flip:
                noisy, clean = noisy[:, ::-1], clean[:, ::-1]
        return np.ascontiguousarray(noisy), np.ascontiguousarray(clean), clean_only

    def _draw_pair(self, rng: np.random.Generator) -> Pair:
        share = self.config.clean_only_share
        if share is None or not self._real or not self._clean_only:
            return self.pairs[rng.integers(len(self.pairs))]
        group = self._clean_only if rng.random() < share else self._real
        return group[rng.integers(len(group))]

    def _zoomed_crop(self, image: np.ndarray, pair: Pair, size: int, zoom: float,
                     rng: np.random.Generator) -> np.ndarray:
        import cv2

        h, w = image.shape[:2]
        big = min(int(round(size * zoom)), h, w)
        if big < size:
            raise UserError(f"expected images of at least {size}x{size} for patch_size {size}, "
                            f"received {pair.name} of {h}x{w}; lower --patch-size")
        y, x = rng.integers(h - big + 1), rng.integers(w - big + 1)
        crop = to_float(image[y:y + big, x:x + big])
        if big != size:
            crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        if self.config.flips:
            crop = np.rot90(crop, rng.integers(4))
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
        return np.ascontiguousarray(crop)


def prefetched_batches(sampler: PatchSampler, start_step: int, end_step: int,
                       shards: Sequence[int] = (0,), n_shards: int = 1, *, ahead: int = 2):
    """Batches for steps [start_step, end_step): per step, a list of (noisy, clean) for each
    of `shards` (of `n_shards`), made by worker threads `ahead` steps in advance."""
    from concurrent.futures import ThreadPoolExecutor

    def make(step):
        return [sampler.batch(step, shard, n_shards) for shard in shards]

    with ThreadPoolExecutor(max_workers=ahead) as pool:
        first = range(start_step, min(end_step, start_step + ahead))
        pending = [pool.submit(make, step) for step in first]
        for step in range(start_step, end_step):
            batch = pending.pop(0).result()
            if step + ahead < end_step:
                pending.append(pool.submit(make, step + ahead))
            yield batch
