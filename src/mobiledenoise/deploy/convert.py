"""Keras model -> TFLite (FP32 / FP16 / INT8), checked against the Keras model on every export.

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
- `export` writes the .tflite and its JSON sidecar atomically (temp files + os.replace):
  a failed export leaves nothing behind and an existing file is refused unless `overwrite`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import warnings
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from mobiledenoise.errors import UserError
from mobiledenoise.fileio import write_bytes_atomically
from mobiledenoise.models.registry import required_multiple

PRECISIONS = ("fp32", "fp16", "int8")
MAX_ABS_DIFF = {"fp32": 1e-4, "fp16": 2e-3}
INT8_MIN_PSNR_VS_KERAS_DB = 25.0
CALIB_PATCHES = 32
VERIFY_SEED = 1234


class ExportVerificationError(UserError):
    """The exported model disagrees with the Keras model beyond the precision's bound."""


# --- conversion -------------------------------------------------------------------------------

def to_tflite(model, *, precision: str = "fp32", size: tuple[int, int] | None = (480, 720),
              calib: Iterable[np.ndarray] | None = None, int8_io: bool = False,
              range_percentile: float | None = None) -> bytes:
    """Convert a registry-built keras.Model to .tflite bytes at a fixed (H, W) or dynamic size.

    `range_percentile` (INT8 only, e.g. 99.99): activation ranges from that percentile of the
    calibration values instead of their min/max (deploy/int8_ranges.py); None or 100 = min/max.
    """
    import tensorflow as tf

    from mobiledenoise.deploy.int8_ranges import check_percentile, percentile_ranges

    _check_precision(precision)
    check_percentile(range_percentile)
    if precision == "int8" and calib is None:
        raise UserError("expected calibration data for an int8 export, received none; pass "
                        "--calib DIR with real noisy images (or calib=[arrays...])")
    fixed = _rebuild(model, size)
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    if precision != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    narrowing = contextlib.nullcontext()
    if precision == "int8":
        patches = _fitted(calib, size, model)
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


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise UserError(f"expected a precision in {', '.join(PRECISIONS)}, received {precision!r}")


def _rebuild(model, size: tuple[int, int] | None):
    """The deployable form of `model` (ACNet fused, super-net blocks dropped) at a fixed size."""
    from mobiledenoise.models import build_model
    from mobiledenoise.models.registry import check_input_size, deployable

    if not hasattr(model, "denoiser_name"):
        raise UserError("expected a model built by mobiledenoise.models.build_model, received a "
                        f"{type(model).__name__} without denoiser_name; build it through the registry")
    model = deployable(model)
    if size is not None:
        check_input_size(model, *size)
    shape = (*size, 3) if size is not None else (None, None, 3)
    fixed = build_model(model.denoiser_name, model.denoiser_config, input_shape=shape, batch_size=1)
    fixed.set_weights(model.get_weights())
    return fixed


def _fitted(calib: Iterable[np.ndarray], size, model) -> Iterator[np.ndarray]:
    """Calibration patches as float images fitted to the export size (or the model's multiple)."""
    count = 0
    for patch in calib:
        patch = _as_float_image(patch, "a calibration patch")
        if size is not None:
            patch = fit_to_size(patch, size)
        else:
            patch = fit_to_multiple(patch, required_multiple(model))
        count += 1
        yield patch
    if count == 0:
        raise UserError("expected calibration patches for an int8 export, received an empty "
                        "set; point --calib at a folder of real noisy images")


def _as_float_image(image: np.ndarray, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise UserError(f"expected {what} as an H×W×3 array, received shape {image.shape}")
    if image.dtype == np.uint8 or image.dtype == np.uint16:
        from mobiledenoise.data.imageio import to_float

        return to_float(image)
    return image.astype(np.float32)


def fit_to_size(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre-crop where `image` is larger than (H, W), reflect-pad where it is smaller."""
    h, w = size
    for axis, target in ((0, h), (1, w)):
        have = image.shape[axis]
        if have > target:
            start = (have - target) // 2
            image = np.take(image, range(start, start + target), axis=axis)
        elif have < target:  # numpy reflects repeatedly when the pad exceeds the size
            pad = [(0, 0)] * image.ndim
            pad[axis] = ((target - have) // 2, target - have - (target - have) // 2)
            image = np.pad(image, pad, mode="reflect")
    return np.ascontiguousarray(image, dtype=np.float32)


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


def verify(model, tflite_bytes: bytes, precision: str, image: np.ndarray,
           clean: np.ndarray | None = None) -> dict:
    """Compare the .tflite with the Keras model on `image`; raise ExportVerificationError when off.

    `image` (and `clean`, if given) are float32 H×W×3 in [0, 1] (uint8/uint16 accepted), fitted
    to the export size. Returns the figures (see the module docstring for the PSNR target).
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
        multiple = required_multiple(model)
        image = fit_to_multiple(image, multiple)
        clean = None if clean is None else fit_to_multiple(_as_float_image(clean, "the clean image"),
                                                          multiple)
    expected = np.asarray(model(image[None], training=False))[0].astype(np.float32)
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


# --- export to a file ---------------------------------------------------------------------------

def calibration_patches(calib_dir: str | Path, size: tuple[int, int] | None, count: int = CALIB_PATCHES,
                        seed: int = 0, pairs=None, synthetic: float = 0.0) -> Iterator[np.ndarray]:
    """`count` random crops of the export size (whole images where smaller) of the NOISY images.

    Deterministic for a seed. Images are visited in a seeded random order (not name order,
    which would calibrate on one camera first), cycling when `count` exceeds them; loaded lazily.
    `synthetic` is the fraction of patches whose input is instead the CLEAN crop with synthetic
    camera noise over the wide "camera" range: INT8 ranges are then calibrated for noisier
    photos than the calibration folder's too (activations past the calibrated range clip).
    """
    from mobiledenoise.data.imageio import read_image, to_float
    from mobiledenoise.data.pairs import find_pairs

    pairs = pairs if pairs is not None else find_pairs(calib_dir)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))
    noise = None
    if synthetic > 0:
        from mobiledenoise.data.synthetic import SyntheticNoise

        noise = SyntheticNoise(levels="camera")
    for k in range(count):
        pair = pairs[order[k % len(pairs)]]
        use_synthetic = noise is not None and rng.random() < synthetic
        image = to_float(read_image(pair.clean if use_synthetic else pair.noisy))
        h, w = size if size is not None else (min(image.shape[0], 256), min(image.shape[1], 256))
        top = int(rng.integers(0, max(image.shape[0] - h, 0) + 1))
        left = int(rng.integers(0, max(image.shape[1] - w, 0) + 1))
        patch = image[top:top + h, left:left + w]
        if use_synthetic:
            patch = np.clip(noise(patch, rng)[0], 0.0, 1.0)
        yield patch[:, ::-1] if rng.random() < 0.5 else patch


def synthetic_pair(size: tuple[int, int] = (256, 256), sigma: float = 0.04,
                   seed: int = VERIFY_SEED) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic textured (noisy, clean) pair: smooth gradients, stripes, edges, noise."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    clean = np.stack([0.5 + 0.4 * np.sin(xx / 7.0) * np.cos(yy / 11.0),
                      (xx + yy) / (h + w),
                      np.where((xx // 16 + yy // 16) % 2 == 0, 0.8, 0.2)], axis=-1)
    noise = np.random.default_rng(seed).normal(0.0, sigma, clean.shape).astype(np.float32)
    return np.clip(clean + noise, 0, 1).astype(np.float32), clean.astype(np.float32)


def export(source: str | Path, out_path: str | Path, *, precision: str = "fp32",
           size: tuple[int, int] | None = (480, 720), calib_dir: str | Path | None = None,
           overwrite: bool = False, int8_io: bool = False, verify_image: str | Path | None = None,
           progress: bool = True, calib_split: str = "all", weights: str = "best",
           calib_synthetic: float = 0.0, calib_percentile: float | None = None) -> dict:
    """Export a run folder / model name to `out_path` (.tflite) + `.json` sidecar; return the sidecar.

    `calib_split="train"` calibrates only on the training scenes of `calib_dir` (the same
    by-scene split as `mobiledenoise train`), so held-out scenes stay unseen by the INT8 model.
    `weights` picks a run folder's best-validation ("best") or final ("last") weights.
    `calib_synthetic` is the fraction of calibration patches given synthetic camera noise.
    `calib_percentile` narrows INT8 activation ranges to that percentile (see `to_tflite`).

    Verification image: `verify_image` (a noisy image file, target = Keras output) if given,
    else the first pair of `calib_dir` (noisy vs its clean), else `synthetic_pair()`.
    """
    from mobiledenoise.deploy.int8_ranges import check_percentile
    from mobiledenoise.deploy.opaudit import audit
    from mobiledenoise.models.registry import deployable, describe
    from mobiledenoise.train.runs import load_model

    _check_precision(precision)
    check_percentile(calib_percentile)
    out_path, sidecar_path = _output_paths(out_path, overwrite)
    if precision == "int8" and calib_dir is None:
        raise UserError("expected --calib DIR for an int8 export (real noisy images to calibrate "
                        "the quantization), received none; pass a folder of noisy/clean pairs")
    pairs = None
    if calib_dir is not None:
        from mobiledenoise.data.pairs import find_pairs

        pairs = find_pairs(calib_dir)
        if calib_split == "train":
            from mobiledenoise.data.pairs import split_by_scene

            pairs = split_by_scene(pairs)[0]
        elif calib_split != "all":
            raise UserError(f"expected --calib-split all|train, received {calib_split!r}")
    model = deployable(load_model(source, weights=weights))
    calib = None
    if precision == "int8":
        from rich.progress import track

        calib = track(calibration_patches(calib_dir, size, pairs=pairs, synthetic=calib_synthetic),
                      total=CALIB_PATCHES, description="calibrating int8", transient=True,
                      disable=not progress)
    with _spinner(f"converting to TFLite {precision}", progress and calib is None):
        data = to_tflite(model, precision=precision, size=size, calib=calib, int8_io=int8_io,
                         range_percentile=calib_percentile)
    noisy, clean = _verification_pair(verify_image, pairs)
    figures = verify(model, data, precision, noisy, clean)
    report = audit(data)
    sidecar = {
        **describe(model), "source": str(source), "weights": weights, "precision": precision,
        "input_size": list(size) if size is not None else None,
        "input_dtype": report.inputs[0].dtype, "output_dtype": report.outputs[0].dtype,
        "calibration": {"dir": str(calib_dir), "split": calib_split, "patches": CALIB_PATCHES,
                        "synthetic_fraction": calib_synthetic,
                        "range_percentile": calib_percentile or 100.0}
        if precision == "int8" else None,
        "verification": figures, "tflite_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "gpu_delegate_compatible": report.compatible, "macs": report.macs, "params": report.params,
        "versions": _tool_versions(), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_bytes_atomically({out_path: data, sidecar_path: json.dumps(sidecar, indent=2).encode()})
    return {**sidecar, "path": str(out_path)}


def _output_paths(out_path, overwrite: bool) -> tuple[Path, Path]:
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


def _verification_pair(verify_image, pairs) -> tuple[np.ndarray, np.ndarray | None]:
    from mobiledenoise.data.imageio import read_image, to_float

    if verify_image is not None:
        return to_float(read_image(verify_image)), None
    if pairs:
        from mobiledenoise.data.pairs import load_pair

        noisy, clean = load_pair(pairs[0])
        return to_float(noisy), to_float(clean)
    return synthetic_pair()


def _tool_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("tensorflow-cpu", "tensorflow", "keras", "ai-edge-litert", "mobiledenoise"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


@contextlib.contextmanager
def _spinner(label: str, enabled: bool):
    if not enabled:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(label):
        yield
