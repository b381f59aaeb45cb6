"""Keeping stderr for our own messages (`mobiledenoise` without `--verbose`).

TensorFlow, LiteRT and absl write INFO lines ("Created TensorFlow Lite XNNPACK delegate",
oneDNN notices, "All log messages before absl::InitializeLog() ...") from C++ straight to file
descriptor 2, where no Python setting reaches them all. So the command's process points fd 2
at /dev/null and gives Python's `sys.stderr` a duplicate of the real stderr: every message of
ours (errors, warnings, progress bars, tracebacks, uvicorn's log) still arrives, native chatter
does not. The Python loggers of TensorFlow and absl are set to WARNING as well. `--verbose`
(anywhere on the command line) keeps everything, including native crash messages, which
this hides too. Only the real process entry (`cli.main`) does this, never an in-process
`CliRunner` call, which would silence its caller's stderr.
"""

from __future__ import annotations

import logging
import os
import sys


def split_verbose(argv: list[str]) -> tuple[list[str], bool]:
    """(argv without any `--verbose`, whether it was given)."""
    kept = [arg for arg in argv if arg != "--verbose"]
    return kept, len(kept) != len(argv)


def silence_native_stderr() -> None:
    """Send fd 2 to /dev/null; keep Python's sys.stderr on the real stderr."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("tensorflow", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        sys.stderr.flush()
        real = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:  # no fd 2 to redirect (e.g. embedded): leave stderr as it is
        return
    sys.stderr = os.fdopen(real, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                           errors="backslashreplace")
