"""Shipped pretrained models: `<name>_<precision>.tflite` (+ a JSON sidecar of what built it).

The ladder, chosen by measurement (see this folder's README, the model card):
- `fast`: the ≤ 15 ms class (720×480, FP32, one thread of the reference machine);
- `default`: the best quality inside the larger budget (≤ 60 ms FP32, ≤ 25 ms INT8): the
  `fast` layout with a full-resolution first level (model card).

`shipped_model_path` is how the CLI finds them; it fails with a clear message while a file is
not there, rather than at load time.
"""

from __future__ import annotations

from pathlib import Path

from mobiledenoise.errors import UserError

WEIGHTS_DIR = Path(__file__).resolve().parent
PRECISIONS = ("fp32", "fp16", "int8")
SHIPPED = ("default", "fast")
ALIASES: dict[str, str] = {}  # name -> another rung's files, while two rungs are one model


def shipped_model_path(name: str = "default", precision: str = "fp32") -> Path:
    """Path of shipped model `name` (default or fast) at `precision` (fp32, fp16 or int8)."""
    if name not in SHIPPED:
        raise UserError(f"expected a shipped model ({', '.join(SHIPPED)}), received {name!r}; "
                        "or pass a .tflite file, a run folder or a registered model name")
    if precision not in PRECISIONS:
        raise UserError(f"expected a precision of {', '.join(PRECISIONS)}, received {precision!r}")
    path = WEIGHTS_DIR / f"{ALIASES.get(name, name)}_{precision}.tflite"
    if not path.is_file():
        raise UserError(f"expected the shipped {name} model at {path}, which is not there; "
                        "pass a model (--model FILE.tflite, a run folder or a model name)")
    return path


def default_model_path(precision: str = "fp32") -> Path:
    """Path of the shipped default .tflite for `precision` (fp32, fp16 or int8)."""
    return shipped_model_path("default", precision)
