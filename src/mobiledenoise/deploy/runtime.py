"""Running a denoising .tflite with LiteRT (`ai_edge_litert`), without TensorFlow.

Design choices:
- One class, `TFLiteDenoiser`, wraps `ai_edge_litert.interpreter.Interpreter`. The model must
  have ONE input and ONE output of shape 1×H×W×3 (H and W fixed, or -1 for a dynamic-size
  model), float32 or int8/uint8; anything else is a `UserError` naming what was found.
- Threads: `threads` is passed as the interpreter's `num_threads`; XNNPACK, the default CPU
  delegate of LiteRT, is created by the interpreter with that same thread count.
  `use_xnnpack=False` selects `BUILTIN_WITHOUT_DEFAULT_DELEGATES` (plain reference kernels,
  ~5× slower; useful to compare).
- Quantised I/O: int8/uint8 tensors are quantised with the tensor's own scale / zero point on
  the way in and de-quantised on the way out, so callers always see float32 in [0, 1].
- Dynamic-size models are resized only when the patch size changes. Their H and W are padded
  (reflection) up to `multiple` (default 32 = the stride of five 2× down-samplings, enough for
  every model in the zoo), because the .tflite itself does not say which factor it needs.
- `denoise` handles any image size: a fixed-size model runs seamless overlapping tiles of its
  own input size (`tiling.denoise_tiled`; the overlap is capped at half the model's smaller
  side, which the caller did not choose); a dynamic one runs the whole image, or tiles of
  `tile` when given (to bound memory).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mobiledenoise.data.imageio import to_float
from mobiledenoise.deploy.tiling import denoise_tiled, round_up_tile, run_padded
from mobiledenoise.errors import UserError

_DTYPES = {np.float32: "float32", np.int8: "int8", np.uint8: "uint8"}


def _load_bytes(model: str | Path | bytes) -> tuple[bytes, str]:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model), "<in-memory model>"
    path = Path(model)
    if not path.exists():
        raise UserError(f"expected a .tflite model file, received {path} which does not exist; "
                        "check the path")
    if path.is_dir() or path.suffix.lower() != ".tflite":
        raise UserError(f"expected a .tflite model file, received {path}; export one with "
                        "`mobiledenoise export`")
    return path.read_bytes(), path.name


def _make_interpreter(content: bytes, name: str, threads: int, use_xnnpack: bool, multiple: int):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    if threads < 1:
        raise UserError(f"expected at least 1 thread, received {threads}")
    resolver = OpResolverType.AUTO if use_xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        interpreter = Interpreter(model_content=content, num_threads=threads,
                                  experimental_op_resolver_type=resolver)
        inputs = interpreter.get_input_details()
        if len(inputs) == 1 and -1 in inputs[0]["shape_signature"][1:3]:
            # A dynamic model is laid out at 1×1 until resized; strided graphs (e.g. a 1×1 conv
            # + DEPTH_TO_SPACE after a stride-2 entry) cannot be prepared at that size.
            interpreter.resize_tensor_input(inputs[0]["index"], [1, multiple, multiple, 3])
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"expected a .tflite that LiteRT can run, received {name} which fails to "
                        f"load: {reason}; re-export it with builtin ops only") from None
    return interpreter


def _check_tensor(detail: dict, role: str, name: str) -> None:
    signature = [int(d) for d in detail.get("shape_signature", detail["shape"])]
    ok_shape = len(signature) == 4 and signature[0] in (1, -1) and signature[3] == 3
    if not ok_shape:
        raise UserError(f"expected a 1×H×W×3 (RGB) {role} tensor, received shape {signature} "
                        f"in {name}; export a model taking and returning RGB images")
    if detail["dtype"] not in _DTYPES:
        raise UserError(f"expected a float32, int8 or uint8 {role}, received "
                        f"{np.dtype(detail['dtype']).name} in {name}; re-export it")


class TFLiteDenoiser:
    """A .tflite denoiser: float32 [0, 1] H×W×3 in, float32 H×W×3 out."""

    def __init__(self, model: str | Path | bytes, *, threads: int = 1, use_xnnpack: bool = True,
                 multiple: int = 32):
        content, self.name = _load_bytes(model)
        self.threads = threads
        self.multiple = multiple
        self._interpreter = _make_interpreter(content, self.name, threads, use_xnnpack, multiple)
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise UserError(f"expected a model with one input and one output, received "
                            f"{len(inputs)} inputs and {len(outputs)} outputs in {self.name}")
        _check_tensor(inputs[0], "input", self.name)
        _check_tensor(outputs[0], "output", self.name)
        self._input, self._output = inputs[0], outputs[0]
        signature = [int(d) for d in self._input["shape_signature"]]
        self.dynamic = signature[1] < 0 or signature[2] < 0
        self._current = None if self.dynamic else tuple(signature[1:3])

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(H, W) of a fixed-size model, None for a dynamic-size one."""
        return None if self.dynamic else self._current

    @property
    def input_dtype(self) -> str:
        return _DTYPES[self._input["dtype"]]

    def _resize(self, height: int, width: int) -> None:
        if self._current == (height, width):
            return
        self._interpreter.resize_tensor_input(self._input["index"], [1, height, width, 3])
        try:
            self._interpreter.allocate_tensors()
        except RuntimeError as exc:
            raise UserError(f"expected a size {self.name} can run, received {height}x{width}: "
                            f"{str(exc).strip().splitlines()[0]}") from None
        self._current = (height, width)

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        dtype = self._input["dtype"]
        if dtype == np.float32:
            return x.astype(np.float32, copy=False)
        scale, zero = self._input["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.rint(x / scale + zero), info.min, info.max).astype(dtype)

    def _dequantize(self, y: np.ndarray) -> np.ndarray:
        if self._output["dtype"] == np.float32:
            return y.astype(np.float32, copy=False)
        scale, zero = self._output["quantization"]
        return ((y.astype(np.float32) - zero) * scale).astype(np.float32)

    def run_patch(self, x: np.ndarray) -> np.ndarray:
        """Run one H×W×3 float32 patch of exactly the model's input size (any size if dynamic)."""
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[2] != 3:
            raise UserError(f"expected an H×W×3 patch, received shape {x.shape}")
        if self.dynamic:
            self._resize(x.shape[0], x.shape[1])
        elif x.shape[:2] != self._current:
            raise UserError(f"expected a {self._current[0]}x{self._current[1]} patch for "
                            f"{self.name}, received {x.shape[0]}x{x.shape[1]}; use denoise() "
                            "for other sizes")
        self._interpreter.set_tensor(self._input["index"], self._quantize(x)[None])
        try:
            self._interpreter.invoke()
        except RuntimeError as exc:
            raise UserError(f"LiteRT failed to run {self.name}: "
                            f"{str(exc).strip().splitlines()[0]}") from None
        result = self._interpreter.get_tensor(self._output["index"])[0]
        if result.shape != x.shape:
            raise UserError(f"expected {self.name} to return a {x.shape} image, received "
                            f"{result.shape}; the model must keep the image size")
        return self._dequantize(result)

    def _run_padded(self, x: np.ndarray) -> np.ndarray:
        """Dynamic models: reflect-pad H and W up to `multiple`, run, crop."""
        return run_padded(self.run_patch, x, self.multiple)

    def tile_for(self, tile: int | tuple[int, int] | None) -> tuple[int, int] | None:
        """The tile size `denoise` uses: the model's own size, `tile` rounded up, or None."""
        if not self.dynamic:
            return self._current
        return None if tile is None else round_up_tile(tile, self.multiple)

    def denoise(self, image: np.ndarray, tile: int | tuple[int, int] | None = None,
                overlap: int = 32, *, on_tile=None) -> np.ndarray:
        """Denoise an H×W×3 image of any size: float in [0, 1], or uint8/uint16 (converted per
        tile, which saves an image-sized float copy). Returns float32 (see module docstring)."""
        size = self.tile_for(tile)
        if size is None:
            return self._run_padded(to_float(image))
        if not self.dynamic:  # the model fixes the tile: keep the overlap below half of it
            overlap = min(overlap, min(size) // 2)
        fn = self._run_padded if self.dynamic else self.run_patch
        return denoise_tiled(fn, image, size, overlap, on_tile=on_tile)
