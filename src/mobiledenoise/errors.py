"""The one exception for bad user input.

`UserError` is a `click.ClickException` with exit code 2, so every CLI command that raises it
prints one line (`Error: ...`) and exits 2 without a traceback, and library callers can still
catch it as a `ValueError`-like error. Messages say what was expected, what was received and
what to do, e.g. ``expected an RGB image, received mode='CMYK' for a.jpg; convert it to RGB``.
"""

from __future__ import annotations

import click


class UserError(click.ClickException):
    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))  # always one line


def expect(condition: bool, message: str) -> None:
    """Raise `UserError(message)` unless `condition` holds."""
    if not condition:
        raise UserError(message)
