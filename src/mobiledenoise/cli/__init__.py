"""The `mobiledenoise` command: a thin Typer layer over the library.

Each stage has its own module here with a `register(app)` function; they are listed
explicitly below (no folder scanning). Heavy imports (TensorFlow) happen inside the command
bodies so that `mobiledenoise --help` is instant. Bad input raises
`mobiledenoise.errors.UserError`, which `cli.errors.UserErrorGroup` (the root group) turns into
one `Error: ...` line and exit code 2.
stderr carries only our own messages: TensorFlow/LiteRT/absl native INFO lines are dropped
unless `--verbose` is given anywhere on the command line (`cli.quiet`). `--version` prints the
package version; Typer's `--install-completion` / `--show-completion [bash|zsh|fish]` set up
shell completion (it runs the command with `_MOBILEDENOISE_COMPLETE` set, which imports only
this light layer).
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from mobiledenoise.cli.errors import UserErrorGroup

# Quiet TensorFlow's C++ start-up chatter before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

app = typer.Typer(
    cls=UserErrorGroup,
    name="mobiledenoise",
    help="Fast real-camera image denoising for phones (Mobile AI 2021 denoising, as software).",
    no_args_is_help=True,
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
    "noise",
    "zoo",
    "data",
    "serve",
    "search",
    "demo",
]

for _name in _COMMAND_MODULES:  # a listed module that fails to import is an error
    importlib.import_module(f"{__name__}.{_name}").register(app)


def _print_version(value: bool) -> None:
    if value:
        from mobiledenoise import __version__

        typer.echo(f"mobiledenoise {__version__}")
        raise typer.Exit()


@app.callback()
def _options(verbose: bool = typer.Option(
        False, "--verbose", help="Keep TensorFlow/LiteRT native log lines on stderr (also "
        "accepted after the command name)."),
        version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                     help="Print the version and exit.")) -> None:
    """Fast real-camera image denoising for phones (Mobile AI 2021 denoising, as software)."""


def main() -> None:
    from mobiledenoise.cli.quiet import silence_native_stderr, split_verbose

    argv, verbose = split_verbose(sys.argv[1:])
    if not verbose:
        silence_native_stderr()
    app(args=(["--verbose"] if verbose else []) + argv, prog_name="mobiledenoise")
