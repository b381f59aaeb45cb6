"""Noise-adaptive denoising: how much noise the first pass removed decides on a second pass.

One pass of a small blind model removes most, not all, of heavy noise: run again on its own
output, the shipped `default` gains +1.2 dB on sidd_mini's SIDD blocks (noise std ≈ 17 /255).
On a clean or lightly noisy photo the same second pass removes detail instead (−4 dB on clean
photos). What tells the two apart is the first pass itself: the std of what it removed,
`removed = std(image − once)` in 8-bit units, is the model's own estimate of the noise.
It reads 1-10 on clean detailed photos, where the blind estimator of `data/noise_level.py`
reads up to 38 (texture counts as noise there), and 15-40 at phone noise levels:

    weight = clip((removed − LOW) / (HIGH − LOW), 0, 1)
    output = once + weight · (model(once) − once),   once = model(image)

LOW and HIGH belong to a model: how much it removes from a clean detailed photo differs
(`default` up to 9.9, `fast` up to 10.9). They are measured on
training-side photos only (clean_photos minus kodak24, clean and with synthetic camera noise)
by `benchmarks/adaptive_passes.py`: LOW just above the most any clean photo's first pass
removed, HIGH = LOW + 6, where a full second pass gains on average. The weight moves smoothly
with the noise, so nearly equal photos get nearly equal outputs. Models without measured
thresholds (a user's .tflite, a run folder) run once.

The model file stays blind and single-input (the challenge format); this wrapper is what
`denoise` and `api.denoise` run by default for the shipped models. A heavy-noise photo costs
two model runs.
"""

from __future__ import annotations

import numpy as np

from mobiledenoise.deploy.strength import blend

# Per shipped model, the std (8-bit units) of what the first pass removed where the second
# pass starts (LOW) and where it is applied in full (HIGH):
# benchmarks/results/adaptive-passes-{default,fast}-vm.md.
THRESHOLDS = {"default": (10.0, 16.0), "fast": (10.0, 16.0)}
LOW, HIGH = THRESHOLDS["default"]
SAMPLE_ROWS = 4  # the removed std is measured on every 4th row (a 12 MP photo: no big copy)


def second_pass_weight(removed: float, low: float = LOW, high: float = HIGH) -> float:
    """The share of a second pass after a first one that removed noise of std `removed`."""
    return float(np.clip((removed - low) / (high - low), 0.0, 1.0))


def removed_std(image: np.ndarray, once: np.ndarray) -> float:
    """Std of image − once in 8-bit units, on every SAMPLE_ROWS-th row."""
    from mobiledenoise.data.imageio import to_float

    return float(np.std(to_float(image[::SAMPLE_ROWS]) - once[::SAMPLE_ROWS]) * 255.0)


class NoiseAdaptiveDenoiser:
    """Wraps a denoiser (a `name` and `denoise(image, tile, overlap)` returning float32 in
    [0, 1], like `TFLiteDenoiser` and `KerasDenoiser`) with a second pass weighted by how much
    noise the first one removed."""

    def __init__(self, denoiser, low: float = LOW, high: float = HIGH):
        if not 0 <= low < high:
            raise ValueError(f"expected 0 <= low < high, received low={low}, high={high}")
        self.denoiser, self.low, self.high = denoiser, low, high
        self.name = denoiser.name
        self.last_weight = 0.0  # of the latest call, for reports and tests

    def denoise(self, image: np.ndarray, tile=None, overlap: int = 32, **kwargs) -> np.ndarray:
        once = self.denoiser.denoise(image, tile, overlap, **kwargs)
        self.last_weight = weight = second_pass_weight(removed_std(image, once), self.low,
                                                       self.high)
        if weight == 0.0:
            return once
        twice = self.denoiser.denoise(once, tile, overlap, **kwargs)
        return blend(once, twice, weight, in_place=True)


PASSES = ("auto", "1")


def parse_passes(text: str) -> str:
    """`auto` (a second pass weighted by the noise removed) or `1`; else a UserError."""
    from mobiledenoise.errors import UserError

    value = str(text).strip().lower()
    if value not in PASSES:
        raise UserError(f"expected --passes auto or 1, received {text!r}; auto adds a second "
                        "pass on heavy noise, 1 runs the model once")
    return value


def with_passes(denoiser, passes: str, model: str | None):
    """`denoiser` as `passes` asks: for `auto`, a shipped MODEL (None: `default`) wrapped with
    its thresholds; anything else as is."""
    thresholds = THRESHOLDS.get("default" if model is None else str(model))
    if parse_passes(passes) == "1" or thresholds is None:
        return denoiser
    return NoiseAdaptiveDenoiser(denoiser, *thresholds)
