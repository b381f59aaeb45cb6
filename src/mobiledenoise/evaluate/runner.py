"""Scoring a denoiser on noisy/clean pairs: per-image PSNR, SSIM and time; a .tflite's
challenge figures (PSNR, SSIM, runtime at 720×480, Final Score).

Design choices:
- `evaluate_pairs` takes any `denoise_fn(float32 H×W×3 in [0, 1]) -> float32 H×W×3`, so the
  LiteRT path (here) and the Keras path (`cli/evaluate.py`) share it. The output is mapped to
  the noisy image's bit depth with `from_float` (round, clip) before scoring, as a saved file
  would be; metrics follow `evaluate.metrics` (8-bit RGB).
- `ms` per image is the wall time of `denoise_fn` alone (not file decoding); for a .tflite the
  challenge runtime is measured separately by `deploy.bench` at 720×480.
- Runtime of a fixed-size model whose input is not 480×720: measured at its own input size and
  scaled by the pixel ratio to 720×480 (convolutional runtime is close to linear in pixels);
  the result says so (`runtime_measured_size`, `runtime_scaled`).
- No TensorFlow import: the challenge server's worker uses this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mobiledenoise.data.imageio import from_float, to_float
from mobiledenoise.data.pairs import Pair, find_pairs, load_pair, split_by_scene
from mobiledenoise.errors import UserError
from mobiledenoise.evaluate.metrics import CHALLENGE_SIZE, final_score, psnr, ssim
from mobiledenoise.records import Record

DenoiseFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ImageResult:
    name: str
    psnr: float
    ssim: float
    ms: float


@dataclass
class EvalResult(Record):
    """Per-image figures; `to_dict()` adds the means and `n`, the number of images."""

    images: list[ImageResult] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.images)

    def _mean(self, key: str) -> float:
        return float(np.mean([getattr(r, key) for r in self.images])) if self.images else float("nan")

    @property
    def psnr(self) -> float:
        return self._mean("psnr")

    @property
    def ssim(self) -> float:
        return self._mean("ssim")

    @property
    def ms(self) -> float:
        return self._mean("ms")

    def to_dict(self) -> dict:
        return {"psnr": self.psnr, "ssim": self.ssim, "n": self.n,
                "images": [asdict(r) for r in self.images]}


@dataclass(frozen=True)
class Runtime(Record):
    """The challenge runtime: ms at `runtime_size`, measured there or per-pixel scaled."""

    runtime_ms: float
    runtime_size: list[int]
    runtime_measured_size: list[int]
    runtime_scaled: bool
    threads: int


@dataclass(frozen=True)
class Score(Record):
    """Fidelity, runtime and the Final Score of one model; the JSON form is flat."""

    evaluation: EvalResult
    runtime: Runtime
    score: float

    def to_dict(self) -> dict:
        return {**self.evaluation.to_dict(), **self.runtime.to_dict(), "score": self.score}


def evaluate_pairs(denoise_fn: DenoiseFn, pairs: Sequence[Pair], *, progress: bool = True
                   ) -> EvalResult:
    """Denoise every pair's noisy image and score it against the clean one."""
    if not pairs:
        raise UserError("expected at least one noisy/clean pair to evaluate, received none")
    result = EvalResult()
    from rich.progress import track

    for pair in track(pairs, description="Evaluating", transient=True, disable=not progress):
        noisy, clean = load_pair(pair)
        x = to_float(noisy)
        start = time.perf_counter()
        output = np.asarray(denoise_fn(x))
        ms = (time.perf_counter() - start) * 1000.0
        if output.shape != noisy.shape:
            raise UserError(f"expected a denoised image of shape {noisy.shape} for {pair.name}, "
                            f"received {output.shape}")
        restored = from_float(output, noisy.dtype)
        result.images.append(ImageResult(pair.name, psnr(restored, clean), ssim(restored, clean), ms))
    return result


def select_pairs(data_dir: str | Path, *, val_only: bool = False) -> list[Pair]:
    """All pairs of `data_dir`, or only its validation split by scene."""
    pairs = find_pairs(data_dir)
    if val_only:
        _, pairs = split_by_scene(pairs)
        if not pairs:
            raise UserError(f"expected a validation split in {data_dir}, found a single scene; "
                            "evaluate without --val-only")
    return pairs


def measure_runtime(denoiser, *, size: tuple[int, int] = CHALLENGE_SIZE, runs: int = 20) -> Runtime:
    """Runtime in ms at `size`: measured there, or per-pixel scaled from a fixed model's size."""
    from mobiledenoise.deploy.bench import benchmark

    measured_at = denoiser.input_size or tuple(size)
    timing = benchmark(denoiser, size=measured_at, runs=runs, warmup=min(3, runs))
    scale = (size[0] * size[1]) / (measured_at[0] * measured_at[1])
    return Runtime(runtime_ms=timing.median_ms * scale, runtime_size=list(size),
                   runtime_measured_size=list(measured_at), runtime_scaled=scale != 1.0,
                   threads=timing.threads)


def score_denoiser(denoiser, pairs: Sequence[Pair], *, runtime_size: tuple[int, int] = CHALLENGE_SIZE,
                   runs: int = 20, progress: bool = True) -> Score:
    """PSNR/SSIM of a loaded `TFLiteDenoiser` on `pairs`, its runtime and the Final Score."""
    result = evaluate_pairs(denoiser.denoise, pairs, progress=progress)
    runtime = measure_runtime(denoiser, size=runtime_size, runs=runs)
    return Score(result, runtime, final_score(result.psnr, runtime.runtime_ms))


def evaluate_tflite(path: str | Path, data_dir: str | Path, *, threads: int = 1,
                    runtime_size: tuple[int, int] = CHALLENGE_SIZE, runs: int = 20,
                    val_only: bool = False, progress: bool = True) -> dict:
    """PSNR/SSIM of a .tflite on the pairs of `data_dir`, its runtime, and the Final Score, in
    the JSON form (`Score.to_dict()` plus `model` and `data`), as the server's job files hold it.

    Images of any size: a dynamic-size model runs each one whole, a fixed-size one in tiles.
    Keys: psnr, ssim, n, images, runtime_ms, runtime_size, runtime_measured_size,
    runtime_scaled, threads, score, model, data.
    """
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    denoiser = TFLiteDenoiser(path, threads=threads)
    pairs = select_pairs(data_dir, val_only=val_only)
    result = score_denoiser(denoiser, pairs, runtime_size=runtime_size, runs=runs,
                            progress=progress)
    return {**result.to_dict(), "model": str(path), "data": str(data_dir)}
