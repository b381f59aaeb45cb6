"""Shipped pretrained models: `default_<precision>.tflite` (+ a JSON of what built it) here.

`default_model_path` is how the CLI finds the model used when none is named; it fails with a
clear message while the weights are not shipped yet, rather than at load time.
"""

from __future__ import annotations

from pathlib import Path

from mobiledenoise.errors import UserError

WEIGHTS_DIR = Path(__file__).resolve().parent
PRECISIONS = ("fp32", "fp16", "int8")


def default_model_path(precision: str = "fp32") -> Path:
    """Path of the shipped default .tflite for `precision` (fp32, fp16 or int8)."""
    if precision not in PRECISIONS:
        raise UserError(f"expected a precision of {', '.join(PRECISIONS)}, received {precision!r}")
    path = WEIGHTS_DIR / f"default_{precision}.tflite"
    if not path.is_file():
        raise UserError(f"expected the shipped default model at {path}, which is not there yet; "
                        "pass a model (--model FILE.tflite, a run folder or a model name)")
    return path
