"""Seamless tiled denoising of images of any size with a model that runs fixed-size tiles.

Design choices:
- Tiles of `tile = (th, tw)` overlap their neighbours by at least `overlap` pixels; along each
  axis the last tile is aligned to the image end (so every tile has the full tile size and a
  fixed-size model can run it). An axis shorter than the tile is reflect-padded up to the tile
  and cropped back afterwards.
- Blending: each tile's output is weighted by a separable window (a 1-D profile per axis). On a
  side shared with a neighbour the profile is 0 for a guard band of `overlap // 4` pixels (where
  the tile's own zero padding disturbs a CNN's output), then rises as a raised cosine to 1; on
  an image border it stays 1. The profiles of all tiles along an axis are normalised to sum to
  exactly 1 at every pixel, so the 2-D weights (outer products) also sum to 1 and the output is
  a plain weighted sum: no seams, no division afterwards, and a function whose receptive radius
  is within the guard band gives exactly its untiled result.
- Memory: because the weights are separable and pre-normalised, no image-sized weight buffer
  is needed. An 8/16-bit input is converted to float [0, 1] tile by tile (`to_float`), so no
  float copy of the whole input exists either. Peak memory = the caller's input image + the
  float32 image-sized output + one tile in and one tile out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from mobiledenoise.data.crops import pad_to, pad_to_multiple
from mobiledenoise.data.imageio import to_float
from mobiledenoise.errors import UserError

TileFn = Callable[[np.ndarray], np.ndarray]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size `tile` covering [0, length), overlapping >= `overlap`."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(overlap: int) -> np.ndarray:
    """Rising edge of length `overlap`: guard band of zeros, raised cosine, ones.

    Symmetric: ramp[i] + ramp[overlap - 1 - i] == 1, so two facing ramps sum to 1.
    """
    guard = overlap // 4
    width = overlap - 2 * guard
    phase = (np.arange(width, dtype=np.float64) + 0.5) / width
    rise = np.sin(0.5 * np.pi * phase) ** 2
    return np.concatenate([np.zeros(guard), rise, np.ones(guard)])


def axis_weights(length: int, tile: int, overlap: int) -> list[tuple[int, np.ndarray]]:
    """(start, 1-D weight profile) per tile along one axis; the profiles sum to 1 everywhere."""
    starts = tile_starts(length, tile, overlap)
    span = min(tile, length)
    profiles = []
    ramp = _ramp(overlap) if len(starts) > 1 else None
    for i, start in enumerate(starts):
        profile = np.ones(span)
        if i > 0:
            profile[:overlap] = ramp
        if i < len(starts) - 1:
            tail = slice(span - overlap, span)
            profile[tail] = np.minimum(profile[tail], ramp[::-1])
        profiles.append(profile)
    total = np.zeros(length)
    for start, profile in zip(starts, profiles):
        total[start:start + span] += profile
    return [(s, (p / total[s:s + span]).astype(np.float32)) for s, p in zip(starts, profiles)]


def run_padded(fn: TileFn, image: np.ndarray, multiple: int) -> np.ndarray:
    """Reflect-pad H and W up to multiples of `multiple`, run `fn`, crop back to H×W."""
    height, width = image.shape[:2]
    return fn(pad_to_multiple(image, multiple))[:height, :width]


def round_up_tile(tile: int | tuple[int, int], multiple: int) -> tuple[int, int]:
    """A tile size (int or (H, W)) rounded up to multiples of `multiple`."""
    th, tw = (tile, tile) if isinstance(tile, int) else tile
    return (th + -th % multiple, tw + -tw % multiple)


def count_tiles(shape: tuple[int, int], tile: tuple[int, int], overlap: int) -> int:
    (h, w), (th, tw) = shape, tile
    return len(tile_starts(h, th, overlap)) * len(tile_starts(w, tw, overlap))


def _check_args(image: np.ndarray, tile: tuple[int, int], overlap: int) -> None:
    if image.ndim != 3:
        raise UserError(f"expected an H×W×C image, received an array of shape {image.shape}")
    th, tw = tile
    if overlap < 0 or overlap >= min(th, tw):
        raise UserError(f"expected an overlap in [0, {min(th, tw)}) for tiles of {th}x{tw}, "
                        f"received {overlap}; use a smaller --overlap or a larger --tile")


def iter_tiles(shape: tuple[int, int], tile: tuple[int, int], overlap: int
               ) -> Iterator[tuple[slice, slice, np.ndarray, np.ndarray]]:
    """(rows, cols, row weights, column weights) for every tile: the 2-D weights are the outer
    product of the two profiles, and those of all tiles sum to 1."""
    rows = axis_weights(shape[0], tile[0], overlap)
    cols = axis_weights(shape[1], tile[1], overlap)
    for y, wy in rows:
        for x, wx in cols:
            yield slice(y, y + len(wy)), slice(x, x + len(wx)), wy, wx


def _unit_span(profile: np.ndarray) -> tuple[int, int]:
    """[start, end) of the run where a tile profile is exactly 1 ((0, 0) when there is none)."""
    ones = np.flatnonzero(profile == 1.0)
    if ones.size == 0 or ones[-1] - ones[0] + 1 != ones.size:
        return 0, 0
    return int(ones[0]), int(ones[-1]) + 1


def accumulate(target: np.ndarray, result: np.ndarray, wy: np.ndarray, wx: np.ndarray) -> None:
    """target += result · (wy ⊗ wx), multiplying only the bands where a weight is below 1: a
    photo's tiles are mostly interior, and the full product costs ~25 % of a fast model's time."""
    y0, y1 = _unit_span(wy)
    x0, x1 = _unit_span(wx)
    target[y0:y1, x0:x1] += result[y0:y1, x0:x1]
    for ys in (slice(0, y0), slice(y1, len(wy))):  # top and bottom bands, full width
        target[ys] += result[ys] * (wy[ys, None, None] * wx[None, :, None])
    for xs in (slice(0, x0), slice(x1, len(wx))):  # left and right bands of the middle rows
        target[y0:y1, xs] += result[y0:y1, xs] * (wy[y0:y1, None, None] * wx[None, xs, None])


def denoise_tiled(fn: TileFn, image: np.ndarray, tile: tuple[int, int] = (512, 512),
                  overlap: int = 32, *, on_tile: Callable[[], None] | None = None) -> np.ndarray:
    """Apply `fn` (th×tw×C float32 -> th×tw×C) to overlapping tiles of `image`, blend seamlessly.

    `image` is float in [0, 1] or uint8/uint16 (converted per tile). `on_tile` is called after
    each tile (progress reporting). Returns float32 H×W×C.
    """
    _check_args(image, tile, overlap)
    th, tw = tile
    height, width = image.shape[:2]
    output = None
    for rows, cols, wy, wx in iter_tiles((height, width), (th, tw), overlap):
        patch = to_float(image[rows, cols])
        result = np.asarray(fn(pad_to(patch, th, tw)))
        if result.shape[:2] != (th, tw):
            raise UserError(f"expected the model to return a {th}x{tw} tile, received "
                            f"{result.shape[0]}x{result.shape[1]}; the model must keep the size")
        if output is None:
            output = np.zeros((height, width, result.shape[2]), np.float32)
        accumulate(output[rows, cols], result[:patch.shape[0], :patch.shape[1]], wy, wx)
        if on_tile is not None:
            on_tile()
    return output
