"""Keras model -> TFLite bytes (FP32 / FP16 / INT8), and the check of a .tflite against its source.

`to_tflite(model, calibration, precision)` converts a built model; `verify(reference, ...)`
compares a .tflite with the model it came from (a Keras model, or any callable on an NHWC
batch, e.g. an ONNX Runtime session). Writing the file and its sidecar is `deploy/export.py`;
drawing calibration patches is `data/calibration.py`.

Design choices:
- Conversion uses `TFLiteConverter.from_keras_model` on a copy of the model rebuilt by the
  registry at a fixed `keras.Input((H, W, 3), batch_size=1)` with the weights copied over
  (`from_concrete_functions` on a Keras 3 model once produced a weightless file that returned
  garbage, so every export is verified). `size=None` keeps H and W dynamic.
- FP16 = float16 weights with float32 I/O (dequantized at load); INT8 = full-integer
  post-training quantization (`TFLITE_BUILTINS_INT8` only) calibrated on real noisy patches,
  float32 I/O unless `int8_io`; activation ranges are the converter's min/max, or percentiles
  with `range_percentile` (deploy/int8_ranges.py). TFMOT's QAT does not take Keras 3 models:
  quantisation-aware training is our own (train/fake_quant.py).
- Images fed to a fixed-size model are fitted to its size by `fit_to_size`: centre crop
  where larger, reflect padding where smaller (both keep real image statistics).
- Verification runs the .tflite with LiteRT on one image and compares it with the Keras
  output. FP32 must agree within 1e-4 and FP16 within 2e-3 (max abs diff on [0, 1] images);
  INT8 must keep >= 25 dB PSNR against the Keras output (a sanity floor that catches broken
  conversions). PSNR figures (`psnr_keras`, `psnr_tflite`, `psnr_drop_db`) are measured against
  the clean target when one is given, else against the Keras FP32 output (then `psnr_keras`
  is the 100 dB cap and the drop is not meaningful: pass a clean image).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from mobiledenoise.data import crops
from mobiledenoise.data.imageio import to_float
from mobiledenoise.errors import UserError
from mobiledenoise.models.registry import required_multiple

PRECISIONS = ("fp32", "fp16", "int8")
QUANTIZERS = ("converter", "aeq")
MAX_ABS_DIFF = {"fp32": 1e-4, "fp16": 2e-3}
INT8_MIN_PSNR_VS_KERAS_DB = 25.0


class ExportVerificationError(UserError):
    """The exported model disagrees with the Keras model beyond the precision's bound."""


# --- conversion -------------------------------------------------------------------------------

def to_tflite(model, calibration: Iterable[np.ndarray] | None = None, precision: str = "fp32", *,
              size: tuple[int, int] | None = (480, 720), int8_io: bool = False,
              range_percentile: float | None = None, quantizer: str = "converter") -> bytes:
    """Convert a registry-built keras.Model to .tflite bytes at a fixed (H, W) or dynamic size.

    `calibration` (INT8 only): real noisy H×W×3 images of any size, fitted to the export size
    (e.g. `data.calibration.calibration_patches`). `range_percentile` (INT8 only, e.g. 99.99):
    activation ranges from that percentile of the calibration values instead of their min/max
    (deploy/int8_ranges.py); None or 100 = min/max. `quantizer` (INT8 only): "converter"
    (TFLiteConverter's calibration) or "aeq" (the FP32 file quantized by AI Edge Quantizer,
    deploy/aeq.py; fixed sizes only); benchmarks/results/quantizers-vm.md compares them.
    """
    multiple = required_multiple(model) if size is None else 1
    return fixed_to_tflite(_rebuild(model, size), calibration, precision, int8_io=int8_io,
                           range_percentile=range_percentile, multiple=multiple,
                           quantizer=quantizer)


def fixed_to_tflite(fixed, calibration: Iterable[np.ndarray] | None = None,
                    precision: str = "fp32", *, int8_io: bool = False,
                    range_percentile: float | None = None, multiple: int = 1,
                    quantizer: str = "converter") -> bytes:
    """Convert a keras.Model whose input shape is final (batch 1; H and W fixed, or None with
    sides that must be multiples of `multiple`) to .tflite bytes; options as in `to_tflite`.
    Imported models (ONNX, PyTorch) come here directly."""
    import tensorflow as tf

    from mobiledenoise.deploy.int8_ranges import check_percentile, percentile_ranges

    _check_precision(precision)
    check_percentile(range_percentile)
    if quantizer not in QUANTIZERS:
        raise UserError(f"expected a quantizer in {', '.join(QUANTIZERS)}, received {quantizer!r}")
    if precision == "int8" and calibration is None:
        raise UserError("expected calibration data for an int8 export, received none; pass "
                        "--calib DIR with real noisy images (or calibration=[arrays...])")
    if precision == "int8" and quantizer == "aeq":
        return _aeq_int8(fixed, calibration, int8_io, range_percentile)
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    if precision != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    narrowing = contextlib.nullcontext()
    if precision == "int8":
        height, width = fixed.inputs[0].shape[1:3]
        size = (height, width) if height and width else None
        patches = fitted_patches(calibration, size, multiple)
        if range_percentile is not None and range_percentile < 100.0:
            patches = list(patches)  # used twice: calibration, then the percentiles
            narrowing = percentile_ranges(patches, range_percentile)
        converter.representative_dataset = lambda: ([patch[None]] for patch in patches)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_type = tf.int8 if int8_io else tf.float32
        converter.inference_input_type = converter.inference_output_type = io_type
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), narrowing:
        warnings.simplefilter("ignore")  # Keras prints its SavedModel endpoints; TF warns on I/O stats
        return converter.convert()


def _aeq_int8(fixed, calibration, int8_io: bool, range_percentile: float | None) -> bytes:
    from mobiledenoise.deploy import aeq

    height, width = fixed.inputs[0].shape[1:3]
    if not (height and width):
        raise UserError("expected a fixed --size for --quantizer aeq, received --dynamic; "
                        "AI Edge Quantizer calibrates a fixed-size file")
    patches = fitted_patches(calibration, (height, width), 1)
    # MSE-searched weight ranges: the best AEQ option on the shipped model (quantizers-vm.md)
    return aeq.quantize(fixed_to_tflite(fixed), patches, algorithm="mse",
                        range_percentile=range_percentile, float_io=not int8_io)


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise UserError(f"expected a precision in {', '.join(PRECISIONS)}, received {precision!r}")


def _rebuild(model, size: tuple[int, int] | None):
    """The deployable form of `model` (ACNet fused, super-net blocks dropped) at a fixed size."""
    from mobiledenoise.models.denoiser import Denoiser
    from mobiledenoise.models.registry import check_input_size, deployable
    from mobiledenoise.models.transforms import rebuild

    if not isinstance(model, Denoiser):
        raise UserError("expected a model built by mobiledenoise.models.build_model, received a "
                        f"{type(model).__name__}; build it through the registry")
    model = deployable(model)
    if size is not None:
        check_input_size(model.config, *size)
    shape = (*size, 3) if size is not None else (None, None, 3)
    return rebuild(model, input_shape=shape, batch_size=1)


def fitted_patches(calibration: Iterable[np.ndarray], size, multiple: int) -> Iterator[np.ndarray]:
    """Calibration patches as float images fitted to the export size (or the model's multiple)."""
    count = 0
    for patch in calibration:
        patch = _as_float_image(patch, "a calibration patch")
        if size is not None:
            patch = fit_to_size(patch, size)
        else:
            patch = fit_to_multiple(patch, multiple)
        count += 1
        yield patch
    if count == 0:
        raise UserError("expected calibration patches for an int8 export, received an empty "
                        "set; point --calib at a folder of real noisy images")


def _as_float_image(image: np.ndarray, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise UserError(f"expected {what} as an H×W×3 array, received shape {image.shape}")
    return to_float(image)


def fit_to_size(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre-crop where `image` is larger than (H, W), reflect-pad where it is smaller."""
    return np.ascontiguousarray(crops.fit_to_size(image, size), dtype=np.float32)


def fit_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """Crop H and W down to multiples of `multiple` (for dynamic-size models)."""
    h, w = (image.shape[0] // multiple) * multiple, (image.shape[1] // multiple) * multiple
    if h == 0 or w == 0:
        raise UserError(f"expected an image of at least {multiple}x{multiple}, received "
                        f"{image.shape[0]}x{image.shape[1]}")
    return np.ascontiguousarray(image[:h, :w], dtype=np.float32)


# --- verification -------------------------------------------------------------------------------

def run_tflite(tflite_bytes: bytes, image: np.ndarray, num_threads: int = 1) -> np.ndarray:
    """Run a single-input denoiser .tflite on one float H×W×3 image; float32 output in [0, 1]."""
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    return TFLiteDenoiser(tflite_bytes, threads=num_threads).run_patch(image.astype(np.float32))


def verify(reference, tflite_bytes: bytes, precision: str, image: np.ndarray,
           clean: np.ndarray | None = None) -> dict:
    """Compare the .tflite with its source on `image`; raise ExportVerificationError when off.

    `reference` is the Keras model, or a callable mapping a 1×H×W×3 float batch to its output
    (the source runtime of an imported model; those are always fixed-size). `image` (and
    `clean`, if given) are float32 H×W×3 in [0, 1] (uint8/uint16 accepted), fitted to the
    export size. Returns the figures (see the module docstring for the PSNR target).
    """
    from mobiledenoise.deploy.tflite_graph import read_graph
    from mobiledenoise.evaluate.metrics import psnr

    _check_precision(precision)
    graph = read_graph(tflite_bytes)
    signature = graph.tensors[graph.inputs[0]].signature
    image = _as_float_image(image, "the verification image")
    if all(d > 0 for d in signature[1:3]):
        size = tuple(signature[1:3])
        image = fit_to_size(image, size)
        clean = None if clean is None else fit_to_size(_as_float_image(clean, "the clean image"), size)
    else:
        multiple = required_multiple(reference)
        image = fit_to_multiple(image, multiple)
        clean = None if clean is None else fit_to_multiple(_as_float_image(clean, "the clean image"),
                                                          multiple)
    expected = _reference_output(reference, image)
    got = run_tflite(tflite_bytes, image)
    if got.shape != expected.shape:
        raise ExportVerificationError(f"expected a TFLite output of shape {expected.shape}, received "
                                      f"{got.shape}; the conversion is broken")
    diff = np.abs(got - expected)
    figures = {"image_size": list(image.shape[:2]), "max_abs_diff": float(diff.max()),
               "mean_abs_diff": float(diff.mean()),
               "psnr_tflite_vs_keras_db": psnr(np.clip(got, 0, 1), np.clip(expected, 0, 1))}
    target = clean if clean is not None else expected
    figures["psnr_target"] = "clean" if clean is not None else "keras_fp32"
    figures["psnr_input"] = psnr(image, target)
    figures["psnr_keras"] = psnr(np.clip(expected, 0, 1), target)
    figures["psnr_tflite"] = psnr(np.clip(got, 0, 1), target)
    figures["psnr_drop_db"] = figures["psnr_keras"] - figures["psnr_tflite"]
    _check_bounds(precision, figures)
    return figures


def _reference_output(reference: Callable, image: np.ndarray) -> np.ndarray:
    import keras

    batch = image[None]
    output = reference(batch, training=False) if isinstance(reference, keras.Model) else reference(batch)
    return np.asarray(output)[0].astype(np.float32)


def _check_bounds(precision: str, figures: dict) -> None:
    if precision in MAX_ABS_DIFF and not figures["max_abs_diff"] <= MAX_ABS_DIFF[precision]:
        raise ExportVerificationError(
            f"expected the {precision} export to match the Keras model within max abs diff "
            f"{MAX_ABS_DIFF[precision]:g}, received max_abs_diff={figures['max_abs_diff']:.3g}; "
            "the conversion is broken (check the model's layers and the converter log)")
    if precision == "int8" and not figures["psnr_tflite_vs_keras_db"] >= INT8_MIN_PSNR_VS_KERAS_DB:
        raise ExportVerificationError(
            f"expected the int8 export within {INT8_MIN_PSNR_VS_KERAS_DB:g} dB PSNR of the Keras "
            f"output, received psnr_tflite_vs_keras_db={figures['psnr_tflite_vs_keras_db']:.2f}; "
            "calibrate on more representative data or export fp16")
