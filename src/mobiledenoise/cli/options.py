"""Option parsing shared by the commands."""

from __future__ import annotations

import re

from mobiledenoise.errors import UserError


def parse_size(text: str | None, what: str = "a size") -> tuple[int, int] | None:
    """'480x720' -> (480, 720): HEIGHTxWIDTH (x, X or ×; both sides >= 1); None stays None.
    `what` names the option in the error (e.g. "--full-res")."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match or min(int(match[1]), int(match[2])) < 1:
        raise UserError(f"expected {what} as HEIGHTxWIDTH (e.g. 480x720), received {text!r}")
    return int(match[1]), int(match[2])
