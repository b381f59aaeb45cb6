"""User-steered denoising strength: `denoise --strength S`.

The output is `noisy + S · (model(noisy) − noisy)`: the model's correction, scaled. So
- S = 0 returns the input unchanged (bit-exact after rounding back to 8/16 bits),
- S = 1 is the model as trained, S > 1 removes more (also detail), S < 1 keeps more grain,
- the output moves linearly, hence monotonically and smoothly, with S.

Why a blend and not a noise-level input: the challenge format is a single-input `.tflite`,
which must stay blind; a blend steers any model in the zoo, any `.tflite` and any run folder
the same way, and costs one multiply-add per pixel. The shipped model is blind: what it knows of
noise levels it learnt in training (PolyU pairs and synthetic noise, recipes/default*.yaml).
Before the blend, `deploy/adaptive.py` may add a second model pass when the first removed
heavy noise (`--passes auto`); the blend then scales the correction of both passes together.
"""

from __future__ import annotations

import math

import numpy as np

from mobiledenoise.errors import UserError

MAX_STRENGTH = 4.0


def parse_strength(text: str | float) -> float:
    """A finite strength in [0, MAX_STRENGTH], from a number or its text; else a UserError."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
        if not isinstance(text, str) or text.strip().lower() != "nan":
            raise UserError(f"expected --strength as a number from 0 to {MAX_STRENGTH:g} "
                            f"(1 = default), received {text!r}; e.g. --strength 0.7") from None
    if not math.isfinite(value) or not 0.0 <= value <= MAX_STRENGTH:
        raise UserError(f"expected --strength from 0 (input unchanged) to {MAX_STRENGTH:g} "
                        f"(1 = default), received {text!r}; e.g. --strength 0.7")
    return value


def blend(noisy: np.ndarray, denoised: np.ndarray, strength: float, *,
          in_place: bool = False) -> np.ndarray:
    """`noisy + strength · (denoised − noisy)`, float32 in [0, 1], computed in place on a copy
    of `denoised` (no extra image-sized temporaries beyond it), or on `denoised` itself when
    `in_place` (a float32 array the caller no longer needs)."""
    out = denoised if in_place else np.array(denoised, np.float32, copy=True)
    out -= noisy
    out *= strength
    out += noisy
    return np.clip(out, 0.0, 1.0, out=out)


class SteeredDenoiser:
    """Wraps a denoiser (anything with a `name` and `denoise(image, tile, overlap)` returning
    float32, like `TFLiteDenoiser` and `KerasDenoiser`) so that its correction is scaled by
    `strength`."""

    def __init__(self, denoiser, strength: float = 1.0):
        self.denoiser = denoiser
        self.strength = parse_strength(strength)
        self.name = denoiser.name

    def denoise(self, image: np.ndarray, tile=None, overlap: int = 32, **kwargs) -> np.ndarray:
        from mobiledenoise.data.imageio import to_float

        if self.strength == 1.0:  # the default: the model as is, no image-sized copies
            return self.denoiser.denoise(image, tile, overlap, **kwargs)
        noisy = to_float(image)
        if self.strength == 0.0:
            return noisy
        return blend(noisy, self.denoiser.denoise(image, tile, overlap, **kwargs), self.strength)
