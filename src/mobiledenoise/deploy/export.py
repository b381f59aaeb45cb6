"""A built model -> a verified .tflite file and its JSON sidecar.

`export_model(model, out, calibration, precision)` is the whole export of one of our Keras
models: convert (`convert.to_tflite`), verify against the model, audit the GPU-delegate ops,
write both files. `save_verified` is the part after conversion, shared with imported models
(ONNX, PyTorch), whose reference is their own runtime instead of Keras.

Both files are written atomically (temp files + os.replace): a failed export leaves nothing
behind, and an existing file (or its sidecar alone) is refused unless `overwrite`. Loading a
run folder, drawing calibration patches and progress display are the caller's (train/runs,
data/calibration, cli/export).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from mobiledenoise.errors import UserError
from mobiledenoise.fileio import write_bytes_atomically

VERSIONED_PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "ai-edge-litert", "onnx",
                      "onnxruntime", "torch", "litert-torch", "ai-edge-quantizer", "mobiledenoise")


def export_model(model, out_path: str | Path, calibration: Iterable[np.ndarray] | None = None,
                 precision: str = "fp32", *, size: tuple[int, int] | None = (480, 720),
                 verify_pair: tuple[np.ndarray, np.ndarray | None] | None = None,
                 int8_io: bool = False, range_percentile: float | None = None,
                 quantizer: str = "converter", overwrite: bool = False,
                 details: dict | None = None) -> dict:
    """Export a registry-built Keras model to `out_path` + `.json` sidecar; return the sidecar.

    `calibration`, `range_percentile` and `quantizer` as in `convert.to_tflite`; `verify_pair`
    = (noisy, clean or None) to verify on (default: the packaged real crop,
    `data.calibration.sample_verification_pair()`); `details` are extra sidecar fields (where
    the model came from, how it was calibrated).
    """
    from mobiledenoise.deploy.convert import to_tflite
    from mobiledenoise.models.registry import deployable, describe

    output_paths(out_path, overwrite)  # refuse before minutes of converting
    model = deployable(model)
    data = to_tflite(model, calibration, precision, size=size, int8_io=int8_io,
                     range_percentile=range_percentile, quantizer=quantizer)
    return save_verified(data, out_path, reference=model, precision=precision,
                         verify_pair=verify_pair, identity=describe(model), overwrite=overwrite,
                         details={"input_size": list(size) if size is not None else None,
                                  **(details or {})})


def save_verified(data: bytes, out_path: str | Path, *, reference: Callable, precision: str,
                  verify_pair: tuple[np.ndarray, np.ndarray | None] | None, identity: dict,
                  details: dict, overwrite: bool = False) -> dict:
    """Verify `data` against `reference` (see `convert.verify`), audit it, write it and its
    sidecar ({**identity, **details, figures...}); return the sidecar plus "path"."""
    from mobiledenoise.data.calibration import sample_verification_pair
    from mobiledenoise.deploy.convert import verify
    from mobiledenoise.deploy.opaudit import audit

    out_path, sidecar_path = output_paths(out_path, overwrite)
    noisy, clean = verify_pair if verify_pair is not None else sample_verification_pair()
    figures = verify(reference, data, precision, noisy, clean)
    report = audit(data)
    sidecar = {
        **identity, **details, "precision": precision,
        "input_dtype": report.inputs[0].dtype, "output_dtype": report.outputs[0].dtype,
        "verification": figures, "tflite_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "gpu_delegate_compatible": report.compatible, "macs": report.macs, "params": report.params,
        "versions": tool_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_bytes_atomically({out_path: data, sidecar_path: json.dumps(sidecar, indent=2).encode()})
    return {**sidecar, "path": str(out_path)}


def output_paths(out_path: str | Path, overwrite: bool) -> tuple[Path, Path]:
    """(the .tflite path, its sidecar path), or UserError for a wrong suffix or an existing file."""
    out_path = Path(out_path)
    if out_path.suffix != ".tflite":
        raise UserError(f"expected an output path ending in .tflite, received {out_path}; "
                        "e.g. -o model.tflite")
    sidecar = out_path.with_suffix(".json")
    for path in (out_path, sidecar):
        if path.exists() and not overwrite:
            raise UserError(f"expected a new output path, received {path} which exists; "
                            "pass --overwrite or choose another path")
    return out_path, sidecar


def tool_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in VERSIONED_PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found
