"""mobiledenoise: fast real-camera image denoising for phones.

Stages, each a package with a small public API (see DESIGN.md):
data -> models -> train -> deploy -> evaluate -> server. The CLI (`mobiledenoise.cli`) is a
thin Typer layer over them. `mobiledenoise.denoise(array)` denoises a NumPy image in a notebook
(`api.py`). Importing this package imports nothing heavy: `denoise` is loaded on first use.
"""

__version__ = "0.1.0"
__all__ = ["__version__", "denoise"]


def __getattr__(name: str):
    if name == "denoise":
        from mobiledenoise.api import denoise

        globals()["denoise"] = denoise  # later look-ups skip this hook
        return denoise
    raise AttributeError(f"module 'mobiledenoise' has no attribute {name!r}")
