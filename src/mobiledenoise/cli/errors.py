"""Library errors -> command-line exits, in one place.

Every command runs inside `UserErrorGroup.invoke` (the root group of `mobiledenoise`), so a
`UserError` raised anywhere below, in a command body or a parameter callback of any
sub-command, prints one `Error: ...` line on stderr and exits 2, with no traceback. A
single-command Typer app (scripts/) uses `UserErrorCommand` the same way. Only Typer's public
API is used (`typer.core`, `typer.Exit`).
"""

from __future__ import annotations

import typer
from typer.core import TyperCommand, TyperGroup

from mobiledenoise.errors import USAGE_EXIT_CODE, UserError, error_line


class _ExitOnUserError:
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            typer.echo(error_line(exc), err=True)
            raise typer.Exit(USAGE_EXIT_CODE) from None


class UserErrorGroup(_ExitOnUserError, TyperGroup):
    """The root command group: maps UserError to one line and exit 2."""


class UserErrorCommand(_ExitOnUserError, TyperCommand):
    """A lone command (a script's Typer app): maps UserError to one line and exit 2."""
