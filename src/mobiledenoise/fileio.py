"""Atomic file writes: every output is written to a temporary file beside its destination
and renamed into place, so a crash or a failed check never leaves a half-written file.

Temporary files from `tempfile.mkstemp` are private (0600); they are given the permissions a
normal `open()` would (0666 minus the umask) before the rename, so outputs stay readable.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_paths(paths: list[Path]) -> Iterator[list[Path]]:
    """Yield temporary paths beside `paths`; on success rename each into place together."""
    temps: list[str] = []
    try:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
            os.close(fd)
            os.chmod(tmp, _default_mode())
            temps.append(tmp)
        yield [Path(t) for t in temps]
        for tmp, path in zip(temps, paths):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)


def write_bytes_atomically(files: dict[Path, bytes]) -> None:
    """Write every file's bytes, then rename them all; no partial output."""
    paths = list(files)
    with atomic_paths(paths) as temps:
        for tmp, path in zip(temps, paths):
            tmp.write_bytes(files[path])


def write_text_atomically(path: Path, text: str) -> Path:
    write_bytes_atomically({Path(path): text.encode("utf-8")})
    return Path(path)


def write_json_atomically(path: Path, data, indent: int | None = None) -> Path:
    return write_text_atomically(path, json.dumps(data, indent=indent))
