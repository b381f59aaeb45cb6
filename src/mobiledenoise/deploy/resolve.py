"""`resolve_denoiser`: the denoiser a MODEL argument names, for the `denoise` and `evaluate`
commands and `mobiledenoise.denoise()` alike:
- `default` or `fast`, or nothing -> a shipped `.tflite` (`weights.shipped_model_path()`);
- a `.tflite` file -> LiteRT (`runtime.TFLiteDenoiser`), no TensorFlow imported;
- a run folder or a registered model name -> Keras (`keras_denoiser.KerasDenoiser`), lazily.
"""

from __future__ import annotations

from pathlib import Path

from mobiledenoise.errors import UserError


def resolve_denoiser(model: str | None, *, threads: int = 1, precision: str = "fp32"):
    """A TFLiteDenoiser or KerasDenoiser for MODEL (see the module docstring); `precision`
    picks the file of a shipped model (default, fast)."""
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.weights import SHIPPED, shipped_model_path

    if model is None or model in SHIPPED:
        return TFLiteDenoiser(shipped_model_path(model or "default", precision), threads=threads)
    if precision != "fp32":
        raise UserError(f"expected --precision only with a shipped model ({', '.join(SHIPPED)}), "
                        f"received --precision {precision} with {model}; drop --precision")
    path = Path(model)
    if path.suffix.lower() == ".tflite" or path.is_file():
        return TFLiteDenoiser(path, threads=threads)
    from mobiledenoise.deploy.keras_denoiser import KerasDenoiser

    return KerasDenoiser(model)
