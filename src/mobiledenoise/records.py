"""Typed results with one JSON form.

A result (a benchmark timing, a runtime measurement, an evaluation) is a small dataclass; its
JSON form is its fields, as `to_dict()` gives them, under the same names everywhere (CLI
`--json`, the server's job results, benchmark files), so no caller renames keys.
"""

from __future__ import annotations

import dataclasses


class Record:
    """Mixin for result dataclasses: `to_dict()` is the JSON form (field name -> value)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
