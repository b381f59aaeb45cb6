"""Timing a .tflite with LiteRT: one patch (the challenge's 720×480 runtime) and a whole
full-resolution photo through the tiled runner.

Design choices:
- Wall-clock time with `time.perf_counter` around `TFLiteDenoiser.run_patch`, i.e. what a
  caller pays: quantise/set input, invoke, read/de-quantise output. The copies are well under
  1 % of an invoke at 720×480. `warmup` runs (XNNPACK packs weights on the first) are dropped.
- The median is the figure to quote (robust on a shared machine); min/max/mean come with it.
- Memory: `peak_rss_mb` is `resource.getrusage(RUSAGE_SELF).ru_maxrss`, the peak resident set
  of the WHOLE process so far (Linux reports KiB) — it includes everything loaded before the
  benchmark, so run it in a fresh process (the CLI does) for a clean figure.
- Inputs are a fixed-seed random image; convolutional models run in data-independent time.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobiledenoise.deploy.runtime import TFLiteDenoiser
from mobiledenoise.deploy.tiling import count_tiles
from mobiledenoise.errors import UserError
from mobiledenoise.evaluate.metrics import CHALLENGE_SIZE
from mobiledenoise.records import Record


@dataclass(frozen=True)
class PatchTiming(Record):
    """One H×W patch timed `runs` times after the warm-up (milliseconds)."""

    median_ms: float
    min_ms: float
    max_ms: float
    mean_ms: float
    runs: int
    threads: int
    size: list[int]
    input_dtype: str
    peak_rss_mb: float


@dataclass(frozen=True)
class PhotoTiming(Record):
    """One tiled pass over a full-resolution photo (milliseconds)."""

    ms: float
    size: list[int]
    tile: list[int]
    overlap: int
    tiles: int
    threads: int
    peak_rss_mb: float


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _random_image(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((*size, 3), dtype=np.float32)


def _as_denoiser(model: str | Path | bytes | TFLiteDenoiser, threads: int) -> TFLiteDenoiser:
    return model if isinstance(model, TFLiteDenoiser) else TFLiteDenoiser(model, threads=threads)


def resolve_size(denoiser: TFLiteDenoiser, size: tuple[int, int] | None) -> tuple[int, int]:
    """The patch size to time: `size`, else the model's own size, else 480×720 (dynamic)."""
    fixed = denoiser.input_size
    if size is None:
        return fixed or CHALLENGE_SIZE
    size = (int(size[0]), int(size[1]))
    if fixed is not None and size != fixed:
        raise UserError(f"expected --size {fixed[0]}x{fixed[1]} (the input size fixed in "
                        f"{denoiser.name}), received {size[0]}x{size[1]}; omit --size or export "
                        "the model at that size")
    return size


def benchmark(model: str | Path | bytes | TFLiteDenoiser, *, size: tuple[int, int] | None = None,
              threads: int = 1, runs: int = 20, warmup: int = 3) -> PatchTiming:
    """Time `runs` invocations on one H×W patch (`size`=None: model size or 480×720)."""
    if runs < 1 or warmup < 0:
        raise UserError(f"expected runs >= 1 and warmup >= 0, received runs={runs}, warmup={warmup}")
    denoiser = _as_denoiser(model, threads)
    size = resolve_size(denoiser, size)
    image = _random_image(size)
    for _ in range(warmup):
        denoiser.run_patch(image)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        denoiser.run_patch(image)
        times.append((time.perf_counter() - start) * 1000.0)
    return PatchTiming(median_ms=statistics.median(times), min_ms=min(times), max_ms=max(times),
                       mean_ms=statistics.fmean(times), runs=runs, threads=denoiser.threads,
                       size=list(size), input_dtype=denoiser.input_dtype, peak_rss_mb=peak_rss_mb())


def benchmark_full_resolution(model: str | Path | bytes | TFLiteDenoiser, *,
                              size: tuple[int, int] = (3000, 4000), threads: int = 1,
                              tile: int | tuple[int, int] | None = 512, overlap: int = 32,
                              on_tile=None) -> PhotoTiming:
    """Time one tiled pass over a full-resolution H×W photo (one warm-up tile first).

    A fixed-size model always tiles at its own input size; a dynamic one at `tile`.
    """
    denoiser = _as_denoiser(model, threads)
    tile_size = denoiser.tile_for(tile if tile is not None else 512)
    image = _random_image(tuple(size))
    denoiser.run_patch(_random_image(tile_size))  # warm-up: XNNPACK packs weights once
    start = time.perf_counter()
    output = denoiser.denoise(image, tile_size, overlap, on_tile=on_tile)
    elapsed = (time.perf_counter() - start) * 1000.0
    del output
    return PhotoTiming(ms=elapsed, size=list(size), tile=list(tile_size), overlap=overlap,
                       tiles=count_tiles(tuple(size), tile_size, overlap), threads=denoiser.threads,
                       peak_rss_mb=peak_rss_mb())
