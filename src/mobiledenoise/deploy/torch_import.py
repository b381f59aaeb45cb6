"""A PyTorch `torch.export` program (.pt2) -> .tflite, through ONNX, verified against torch.

Route: `torch.export.load` -> `torch.onnx.export(program)` (the dynamo exporter, which needs
onnxscript) -> `onnx_import.export_onnx`, so a PyTorch model gets the same NHWC conversion,
FP16/INT8 (calibrated on real patches), op audit and sidecar as ONNX files; the .tflite is
checked against the torch program itself. Install with `pip install 'mobiledenoise[torch]'`.

Why not litert-torch (the successor of ai-edge-torch): `LITERT_TORCH_NOTE` below, measured
with `pip install --dry-run litert-torch==0.10.0` beside this toolkit's pinned packages.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np

from mobiledenoise.errors import UserError

LITERT_TORCH_NOTE = (
    "litert-torch is not used: litert-torch 0.10.0 needs xdsl 0.28 (through "
    "ai-edge-litert[model-utils]), which caps typing-extensions below 4.13, so installing it "
    "downgrades typing-extensions 4.16 and pydantic 2.14 that the server runs on; .pt2 "
    "programs go through torch.onnx.export and the ONNX route instead")


def _torch():
    try:
        import onnxscript  # noqa: F401  (torch.onnx.export's dynamo exporter needs it)
        import torch
    except ModuleNotFoundError as exc:
        raise UserError(f"expected PyTorch and onnxscript to read a .pt2 program, received no "
                        f"{exc.name} module; pip install 'mobiledenoise[torch]'") from None
    return torch


def load_program(path: str | Path):
    """The ExportedProgram in `path`, checked to take one image tensor."""
    torch = _torch()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"expected a torch.export program file, received {path} which does "
                        "not exist")
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # a zip that is not a program, a wrong version, ...
        raise UserError(f"expected a program saved by torch.export.save, received {path} "
                        f"({' '.join(str(exc).split())[:160]})") from None
    inputs = program.graph_signature.user_inputs
    if len(inputs) != 1:
        raise UserError(f"expected a program with one image input, received {len(inputs)} "
                        f"inputs ({', '.join(map(str, inputs))}); export the denoiser alone")
    return program


def input_dims(program) -> list:
    """The image input's dims: ints where static, None where symbolic (dynamic)."""
    (name,) = program.graph_signature.user_inputs
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == name)
    return [int(d) if isinstance(d, int) else None for d in node.meta["val"].shape]


def to_onnx(program, onnx_path: Path, size: tuple[int, int] | None) -> None:
    torch = _torch()
    dims = input_dims(program)
    if len(dims) != 4 or dims[1] != 3:
        raise UserError(f"expected an NCHW image input 1x3xHxW, received shape {dims}")
    height, width = (d if d is not None else s for d, s in zip(dims[2:], size or (None, None)))
    if height is None or width is None:
        raise UserError("expected --size HxW for a program with dynamic sides, received --dynamic")
    example = torch.rand(1, 3, height, width)
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    try:
        exporter_log.setLevel(logging.ERROR)  # "torchvision is not installed" notes on every call
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(program, (example,), str(onnx_path), dynamo=True, verbose=False)
    except Exception as exc:  # an operator the ONNX exporter lacks, a data-dependent shape, ...
        raise UserError(f"expected a program torch.onnx.export can convert, received an error: "
                        f"{' '.join(str(exc).split())[:200]}") from None
    finally:
        exporter_log.setLevel(level)


def torch_reference(program):
    """The program as a callable on a 1×H×W×3 float batch (the verification reference)."""
    torch = _torch()
    module = program.module()

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = module(torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))))
        return out.numpy().transpose(0, 2, 3, 1)

    return run


def export_pt2(path: str | Path, out_path: str | Path, calibration=None, precision: str = "fp32",
               *, size: tuple[int, int] | None = (480, 720), details: dict | None = None,
               **options) -> dict:
    """Export a .pt2 program like `onnx_import.export_onnx` (same options), verified against
    torch."""
    from mobiledenoise.deploy.export import output_paths
    from mobiledenoise.deploy.onnx_import import export_onnx

    output_paths(out_path, options.get("overwrite", False))
    program = load_program(path)
    with tempfile.TemporaryDirectory(prefix="mobiledenoise-pt2-") as folder:
        onnx_path = Path(folder) / f"{Path(path).stem}.onnx"
        to_onnx(program, onnx_path, size)
        return export_onnx(onnx_path, out_path, calibration, precision, size=size,
                           reference=torch_reference(program), **options, details={
                               "source": str(path),
                               "source_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
                               "converter": "torch.onnx.export + mobiledenoise.deploy.onnx_import",
                               "reference_runtime": "torch", **(details or {})})
