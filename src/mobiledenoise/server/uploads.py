"""Receiving and checking an uploaded `.tflite` before it is queued.

Design choices:
- The request body is counted while it streams in and the upload is refused (413) as soon as
  it passes the cap, so an oversized upload is never read whole. Starlette's multipart parser
  spools the file part to a temporary file; at most one file and a few fields are accepted.
- The client's file name is only displayed. A name with a path, a control character or a
  leading dot is refused; the stored file is `models/<sha256>.tflite` (content-addressed:
  the same model uploaded twice is stored once).
- Checks, in order, each with a one-line reason: non-empty; a TFLite flatbuffer that parses
  within bounds set by its size (`deploy.tflite_graph.read_graph`: alias bombs are refused);
  the model contract shared with `mobiledenoise check` (`deploy.contract`: one 1×H×W×3 input
  and output, float32 or int8/uint8, no tensor declaring an absurd size); the GPU-delegate op
  audit (`deploy.opaudit`) — its rendered report is the error log of an incompatible model.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from mobiledenoise.errors import UserError

MULTIPART_OVERHEAD = 64 * 1024  # boundary lines and part headers around the file
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.+=-]{0,119}\.tflite")  # fullmatch: no "\n"


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = 64 * 1024 * 1024  # the report's largest finalist model is 18 MB
    max_side: int = 8192  # longest input side a model may declare (pixels)
    max_tensor_bytes: int = 1024**3  # any one declared tensor


class UploadRejected(Exception):
    """A refused upload: HTTP status, a one-line reason and optionally a longer log."""

    def __init__(self, status: int, message: str, log: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.log = log


@dataclass(frozen=True)
class ReceivedFile:
    path: Path  # temporary file inside the state folder; the caller moves or deletes it
    filename: str
    sha256: str
    size_bytes: int


def display_name(name: str | None) -> str:
    """The client's file name if it is a plain `*.tflite` name, else a clear refusal."""
    if not name:
        raise UploadRejected(400, "expected a file name ending in .tflite, received none; "
                                  "send the model as multipart field 'file' with its file name")
    if not _SAFE_NAME.fullmatch(name):
        raise UploadRejected(400, f"expected a plain file name ending in .tflite (letters, digits, "
                                  f"' _.+=-', no folders), received {name[:80]!r}; rename the file")
    return name


async def receive_upload(headers, body: AsyncIterator[bytes], tmp_dir: Path,
                         limits: UploadLimits) -> ReceivedFile:
    """Parse a multipart body with one field `file`, refusing it once it passes the cap."""
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    declared = headers.get("content-length")
    cap = limits.max_bytes + MULTIPART_OVERHEAD
    if declared and declared.isdigit() and int(declared) > cap:
        raise _too_large(limits)
    if not headers.get("content-type", "").startswith("multipart/form-data"):
        raise UploadRejected(415, f"expected multipart/form-data with field 'file', received "
                                  f"{headers.get('content-type', 'no content type')!r}")
    parser = MultiPartParser(headers, _capped(body, cap, limits), max_files=1, max_fields=4)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise UploadRejected(400, f"expected a well-formed multipart upload, received: {exc}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise UploadRejected(422, "expected the model in multipart field 'file', received "
                                      f"fields {sorted(form.keys())}; use -F file=@model.tflite")
        filename = display_name(upload.filename)
        # hashing, copying and fsync off the event loop: other requests keep being answered
        return await run_in_threadpool(_spool_to_state, upload, filename, tmp_dir, limits)
    finally:
        await form.close()


async def _capped(body: AsyncIterator[bytes], cap: int, limits: UploadLimits) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in body:
        total += len(chunk)
        if total > cap:
            raise _too_large(limits)
        yield chunk


def _too_large(limits: UploadLimits) -> UploadRejected:
    return UploadRejected(413, f"expected a model of at most {limits.max_bytes // 1024**2} MiB, "
                               "received a larger upload; shrink the model (e.g. INT8 or FP16 weights)")


def _spool_to_state(upload, filename: str, tmp_dir: Path, limits: UploadLimits) -> ReceivedFile:
    digest, size = hashlib.sha256(), 0
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=tmp_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            upload.file.seek(0)
            while chunk := upload.file.read(1024 * 1024):
                size += len(chunk)
                if size > limits.max_bytes:
                    raise _too_large(limits)
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())  # durable before the submission row says "accepted"
        if size == 0:
            raise UploadRejected(400, f"expected a .tflite model, received an empty file {filename!r}")
    except BaseException:
        os.unlink(tmp)
        raise
    return ReceivedFile(Path(tmp), filename, digest.hexdigest(), size)


def load_checkers() -> None:
    """Import the parse and audit modules now (server start), not inside the first upload,
    where ~0.7 s of imports would hold the GIL while other requests wait."""
    import tflite  # noqa: F401

    from mobiledenoise.deploy import contract, opaudit, tflite_graph  # noqa: F401


def check_model(content: bytes, limits: UploadLimits = UploadLimits()) -> dict:
    """Check a model's structure and ops; return a JSON-able summary, or raise UploadRejected.

    The parse is bounded by the file's size (`tflite_graph` refuses alias bombs and absurd
    counts before materialising them), so this costs time and memory in proportion to the upload.
    """
    from mobiledenoise.deploy.contract import Contract, check_contract
    from mobiledenoise.deploy.opaudit import audit_graph
    from mobiledenoise.deploy.tflite_graph import read_graph

    try:
        graph = read_graph(content)
        check_contract(graph, Contract(limits.max_side, limits.max_tensor_bytes))
        report = audit_graph(graph)
    except UserError as exc:
        raise UploadRejected(422, str(exc.message)) from None
    if not report.compatible:
        raise UploadRejected(422, "expected only ops the mobile GPU delegate runs, received an "
                                  "incompatible model; see the log and replace the listed ops",
                             log=report.render())
    io = [graph.tensors[i] for i in graph.inputs + graph.outputs]
    return {"size_bytes": len(content), "ops": sorted({op.name for op in graph.operators}),
            "macs": int(getattr(report, "macs", 0) or 0),
            "input": {"shape": list(io[0].signature), "dtype": io[0].dtype},
            "output": {"shape": list(io[1].signature), "dtype": io[1].dtype}}


def store_model(received: ReceivedFile, models_dir: Path) -> Path:
    """Move the checked file to `models/<sha256>.tflite` (kept if it is already there)."""
    target = models_dir / f"{received.sha256}.tflite"
    if target.exists():
        received.path.unlink(missing_ok=True)
    else:
        os.replace(received.path, target)
    return target
