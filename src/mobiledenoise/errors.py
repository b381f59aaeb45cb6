"""The one exception for bad user input.

`UserError` is a Click exception with exit code 2, so every CLI command that raises it prints
one line (`Error: ...`) and exits 2 without a traceback; library callers catch it like any
exception. Typer 0.29 vendors its own Click (`typer._click`), and only that class is caught by
Typer's command runner, hence the import below (typer is pinned in pyproject.toml). Messages say what was expected, what was received and
what to do, e.g. ``expected an RGB image, received mode='CMYK' for a.jpg; convert it to RGB``.
"""

from __future__ import annotations

from collections.abc import Callable

from typer._click.exceptions import ClickException


class UserError(ClickException):
    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))  # always one line


def expect(condition: bool, message: str) -> None:
    """Raise `UserError(message)` unless `condition` holds."""
    if not condition:
        raise UserError(message)


def run_script(main: Callable[[], object]) -> None:
    """Run an argparse script's `main` (benchmarks/): a UserError prints one `Error: ...` line
    and exits 2, as in the CLI, instead of a traceback; `main`'s return value is the exit code."""
    try:
        code = main()
    except UserError as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(code)
