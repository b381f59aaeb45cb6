"""mobiledenoise: fast real-camera image denoising for phones.

Stages, each a package with a small public API (see DESIGN.md):
data -> models -> train -> deploy -> evaluate -> server. The CLI (`mobiledenoise.cli`) is a
thin Typer layer over them. Importing this package imports nothing heavy.
"""

__version__ = "0.1.0"
