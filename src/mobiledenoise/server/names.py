"""Team names that cannot impersonate each other.

A name is NFKC-normalised (fullwidth `ｅｖｉｌ` becomes `evil`), stripped, and must then be 1-40
ASCII letters, digits, space, `_`, `.`, `-`, starting with a letter or digit: Cyrillic `а` in
`аlpha` and other look-alike scripts are refused outright rather than judged by a confusables
table. Two names clash when their case-folded NFKC forms are equal (`ALPHA` vs `alpha`).
"""

from __future__ import annotations

import re
import unicodedata

from mobiledenoise.errors import UserError

_TEAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}")


def normalise_team_name(name: str) -> str:
    """NFKC-normalised, stripped, ASCII letters/digits/' _.-' only, or UserError."""
    normal = unicodedata.normalize("NFKC", name).strip()
    if not _TEAM_NAME.fullmatch(normal):
        raise UserError(f"expected a team name of 1-40 ASCII letters, digits, space, '_', '.', "
                        f"'-' (starting with a letter or digit), received {name!r}; "
                        "choose a plain ASCII name")
    return normal


def team_key(name: str) -> str:
    """What two names must not share: the case-folded NFKC form."""
    return unicodedata.normalize("NFKC", name).casefold()
