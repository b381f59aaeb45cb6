"""The `mobiledenoise` command: a thin Typer layer over the library.

Each stage has its own module here with a `register(app)` function; they are listed
explicitly below (no folder scanning). Heavy imports (TensorFlow) happen inside the command
bodies so that `mobiledenoise --help` is instant. Bad input raises
`mobiledenoise.errors.UserError`, which Click turns into one `Error: ...` line and exit code 2.
"""

from __future__ import annotations

import importlib
import os

import typer

# Quiet TensorFlow's C++ start-up chatter before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

app = typer.Typer(
    name="mobiledenoise",
    help="Fast real-camera image denoising for phones (Mobile AI 2021 denoising, as software).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# One module per stage; each adds its commands / command groups to `app`.
_COMMAND_MODULES = [
    "score",
    "train",
    "evaluate",
    "export",
    "check",
    "bench",
    "denoise",
    "zoo",
    "data",
    "serve",
    "search",
    "demo",
]

for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as exc:  # a stage not built yet
        if exc.name != f"{__name__}.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    app()
