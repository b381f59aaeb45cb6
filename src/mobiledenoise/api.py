"""`mobiledenoise.denoise(array)`: the `denoise` command for NumPy arrays (notebooks, scripts).

It is the command's own path, on an array instead of a file: the model is resolved like
`denoise --model` (`deploy.resolve.resolve_denoiser`), given a second pass on heavy noise like
`--passes auto` (`deploy.adaptive`), steered like `--strength`
(`deploy.strength.SteeredDenoiser`) and run in seamless overlapping tiles
(`deploy.runtime` / `deploy.tiling`), so any size works in bounded memory and the result is the
command's, pixel for pixel. What differs:
- the dtype comes back as it went in: uint8 -> uint8, uint16 -> uint16 (rounded as the
  command writes files), float16/32/64 in [0, 1] -> the same float dtype in [0, 1];
- bad input raises `DenoiseInputError`, both a `ValueError` (what array code catches) and the
  toolkit's `UserError`, with the usual one line: expected, received, how to fix. Errors from
  deeper layers (an unknown model, a bad strength) are re-raised as that class too;
- shipped models are loaded once per (name, precision, threads) and kept, so a loop over frames
  does not reload the interpreter; a LiteRT interpreter runs one image at a time, so calls from
  several threads take turns (a lock), rather than corrupt each other's tensors.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from mobiledenoise.errors import UserError

_FLOATS = (np.float16, np.float32, np.float64)
_RUNNING = threading.Lock()


class DenoiseInputError(UserError, ValueError):
    """Bad input to `denoise`: a ValueError for array code, a UserError for the toolkit."""


def denoise(image, *, model: str | Path = "default", strength: float = 1.0,
            passes: str = "auto", tile: int | None = 512, overlap: int = 32,
            precision: str = "fp32", threads: int = 2) -> np.ndarray:
    """Denoise one H×W×3 RGB image of any size; returns an array of the same shape and dtype.

    image: uint8, uint16 or float (values in [0, 1]) NumPy array, or anything `np.asarray`
        makes one of (a PIL image).
    model: "default" or "fast" (shipped), a .tflite file, a run folder or a registered model.
    strength: 0 returns the input, 1 the model as trained, up to 4 stronger (linear blend).
    passes: "auto" runs a shipped model a second time on its own output, weighted by how much
        noise the first pass removed (heavy noise only; `deploy.adaptive`); "1" runs it once.
        Other models always run once.
    tile, overlap: tile side and overlap for dynamic-size models, blended without seams; None
        runs the whole image at once. A fixed-size .tflite (the shipped ones) always tiles at
        its own input size.
    precision: "fp32" or "int8", for the shipped models. threads: LiteRT CPU threads.
    """
    array = _checked_image(image)
    try:
        with _RUNNING:
            restored = _steered(model, precision, threads, strength, passes).denoise(
                array, tile, overlap)
    except UserError as exc:
        raise DenoiseInputError(exc.message) from None
    if array.dtype.kind == "f":  # strength 0 may hand back the caller's own array: no in-place
        inplace = not np.may_share_memory(restored, array)
        restored = np.clip(restored, 0.0, 1.0, out=restored if inplace else None)
        return restored.astype(array.dtype, copy=False)
    from mobiledenoise.data.imageio import from_float_in_rows

    return from_float_in_rows(restored, array.dtype)


def _steered(model, precision: str, threads: int, strength: float, passes: str):
    from mobiledenoise.deploy.adaptive import with_passes
    from mobiledenoise.deploy.strength import SteeredDenoiser
    from mobiledenoise.weights import SHIPPED

    name = "default" if model is None else str(model)
    if name in SHIPPED:
        denoiser = _shipped(name, precision, threads)
    else:
        from mobiledenoise.deploy.resolve import resolve_denoiser

        denoiser = resolve_denoiser(name, threads=threads, precision=precision)
    return SteeredDenoiser(with_passes(denoiser, passes, name), strength)


@lru_cache(maxsize=8)
def _shipped(name: str, precision: str, threads: int):
    """A shipped model's interpreter, kept: the files never change while the package is in use."""
    from mobiledenoise.deploy.resolve import resolve_denoiser

    return resolve_denoiser(name, threads=threads, precision=precision)


def _checked_image(image) -> np.ndarray:
    """`image` as an H×W×3 uint8/uint16/float [0, 1] array, or a DenoiseInputError."""
    if not (isinstance(image, np.ndarray) or hasattr(image, "__array__")
            or hasattr(image, "__array_interface__")):
        raise DenoiseInputError(f"expected an H×W×3 NumPy array, received "
                                f"{type(image).__name__}; pass np.asarray(image) (e.g. from PIL)")
    array = np.asarray(image)
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        raise DenoiseInputError(f"expected an H×W×3 RGB array, received grayscale shape "
                                f"{array.shape}; repeat it to 3 channels: "
                                "np.repeat(gray.reshape(h, w, 1), 3, axis=2)")
    if array.ndim != 3:
        raise DenoiseInputError(f"expected one H×W×3 RGB image, received {array.ndim}-D shape "
                                f"{array.shape}; denoise a batch one image at a time")
    if array.shape[2] != 3:
        fix = "drop alpha with image[..., :3]" if array.shape[2] == 4 else \
            "pass channels last (H×W×3): np.moveaxis(image, 0, -1)"
        raise DenoiseInputError(f"expected 3 colour channels last (H×W×3), received shape "
                                f"{array.shape}; {fix}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DenoiseInputError(f"expected an image of at least 1×1 pixels, received shape "
                                f"{array.shape}")
    if array.dtype not in (np.uint8, np.uint16) and array.dtype not in _FLOATS:
        raise DenoiseInputError(f"expected uint8, uint16 or float pixels (float in [0, 1]), "
                                f"received {array.dtype}; e.g. image.astype(np.uint8) for 0-255 "
                                "values, or image / image.max() for floats")
    if array.dtype.kind == "f":
        low, high = float(array.min()), float(array.max())
        if not (0.0 <= low and high <= 1.0):  # also False for NaN
            raise DenoiseInputError(f"expected float pixels in [0, 1], received values from "
                                    f"{low:g} to {high:g}; scale them (image / 255 for 8-bit "
                                    "values) or clip with np.clip(image, 0, 1)")
    return array
