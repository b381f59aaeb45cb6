"""The one exception for bad user input.

`UserError` is a plain exception: the library raises it and knows nothing of the command line.
The CLI layer maps it to one `Error: ...` line on stderr and exit code 2 (`cli.errors`); the
benchmark scripts do the same through `run_script`; the server turns it into a 4xx answer.
Messages say what was expected, what was received and what to do, e.g.
``expected an RGB image, received mode='CMYK' for a.jpg; convert it to RGB``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

USAGE_EXIT_CODE = 2  # what a command-line front end exits with on a UserError (Click's usage code)


class UserError(Exception):
    def __init__(self, message: str):
        self.message = " ".join(str(message).split())  # always one line
        super().__init__(self.message)


def expect(condition: bool, message: str) -> None:
    """Raise `UserError(message)` unless `condition` holds."""
    if not condition:
        raise UserError(message)


def error_line(exc: UserError) -> str:
    return f"Error: {exc.message}"


def run_script(main: Callable[[], object]) -> None:
    """Run an argparse script's `main` (benchmarks/): a UserError prints one `Error: ...` line
    and exits 2, as in the CLI, instead of a traceback; `main`'s return value is the exit code."""
    try:
        code = main()
    except UserError as exc:
        print(error_line(exc), file=sys.stderr)
        raise SystemExit(USAGE_EXIT_CODE) from None
    raise SystemExit(code)


class ScriptParser(argparse.ArgumentParser):
    """argparse for the scripts run through `run_script`: a bad argument raises a UserError, so
    it reads as the CLI's one `Error:` line with exit 2, not argparse's usage and error lines."""

    def error(self, message):
        raise UserError(f"expected valid arguments, received: {message}; see --help")


def at_least_one(text: str) -> int:
    """A ScriptParser argument type: a whole number ≥ 1 (a count of steps, patches or a stride)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, "
                                         f"received {text!r}")
    return int(text)
