"""LiteRT runtime and benchmark: loading, validation, quantised I/O, dynamic sizes, timing.

The tiny .tflite files come from `tests/model_files.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mobiledenoise.errors import UserError

from model_files import FIXED_SIZE, keras_reference, tflite_model  # noqa: F401


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def test_fixed_model_matches_keras():
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    denoiser = TFLiteDenoiser(tflite_model("fixed"))
    assert denoiser.input_size == FIXED_SIZE and not denoiser.dynamic
    x = _image(*FIXED_SIZE)
    out = denoiser.run_patch(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, keras_reference("fixed", x), atol=1e-4)


def test_fixed_model_tiles_any_size_and_refuses_wrong_patch():
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    denoiser = TFLiteDenoiser(tflite_model("fixed"))
    assert denoiser.denoise(_image(70, 101), overlap=8).shape == (70, 101, 3)
    assert denoiser.denoise(_image(10, 20), overlap=8).shape == (10, 20, 3)  # smaller than a tile
    with pytest.raises(UserError, match="expected a 32x48 patch"):
        denoiser.run_patch(_image(40, 48))


def test_dynamic_model_resizes_and_pads_to_multiple():
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    denoiser = TFLiteDenoiser(tflite_model("dynamic"), threads=2)
    assert denoiser.input_size is None and denoiser.dynamic
    x = _image(40, 56)
    np.testing.assert_allclose(denoiser.run_patch(x), keras_reference("dynamic", x), atol=1e-4)
    assert denoiser.denoise(_image(50, 70)).shape == (50, 70, 3)  # not a multiple of 4
    assert denoiser.tile_for(100) == (128, 128)


@pytest.mark.filterwarnings("ignore:Statistics for quantized inputs")
def test_int8_io_is_quantised_and_dequantised():
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    denoiser = TFLiteDenoiser(tflite_model("int8"))
    assert denoiser.input_dtype == "int8"
    x = _image(*FIXED_SIZE, seed=3)
    out = denoiser.run_patch(x)
    assert out.dtype == np.float32
    # Forgetting the scale/zero point would be off by ~100; PTQ error here is ~1e-2.
    assert np.abs(out - keras_reference("fixed", x)).mean() < 0.03


def test_identity_and_no_xnnpack_agree():
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    x = _image(33, 47)
    fast = TFLiteDenoiser(tflite_model("conv")).denoise(x)
    plain = TFLiteDenoiser(tflite_model("conv").read_bytes(), use_xnnpack=False).denoise(x)
    np.testing.assert_allclose(fast, plain, atol=1e-5)
    np.testing.assert_array_equal(TFLiteDenoiser(tflite_model("identity")).denoise(x), x)


def test_tiled_tflite_equals_whole_image():
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    denoiser = TFLiteDenoiser(tflite_model("conv"))
    x = _image(160, 224, seed=1)
    whole = denoiser.run_patch(x)
    tiled = denoiser.denoise(x, tile=64, overlap=16)
    np.testing.assert_allclose(tiled, whole, atol=1e-3)
    assert np.abs(tiled - whole).max() < 1e-5


@pytest.mark.parametrize(("kind", "message"), [
    ("gray", r"expected a 1×H×W×3 \(RGB\) input tensor, received shape \[1, 32, 48, 1\]"),
    ("two_outputs", "expected a model with one input and one output, received 1 inputs and 2"),
])
def test_bad_model_signatures(kind, message):
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    with pytest.raises(UserError, match=message):
        TFLiteDenoiser(tflite_model(kind))


def test_bad_files(tmp_path):
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    with pytest.raises(UserError, match="does not exist"):
        TFLiteDenoiser(tmp_path / "missing.tflite")
    weights = tmp_path / "model.h5"
    weights.write_bytes(b"\x89HDF")
    with pytest.raises(UserError, match=r"expected a \.tflite model file, received .*model\.h5"):
        TFLiteDenoiser(weights)
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a flatbuffer" * 8)
    with pytest.raises(UserError, match="garbage.tflite which fails to load"):
        TFLiteDenoiser(garbage)
    with pytest.raises(UserError, match="at least 1 thread"):
        TFLiteDenoiser(tflite_model("identity"), threads=0)


def test_benchmark_keys_and_sizes():
    from mobiledenoise.deploy.bench import benchmark, benchmark_full_resolution

    result = benchmark(tflite_model("dynamic"), size=(64, 96), runs=3, warmup=1).to_dict()
    assert set(result) >= {"median_ms", "min_ms", "max_ms", "mean_ms", "runs", "threads",
                           "size", "peak_rss_mb"}
    assert result["min_ms"] <= result["median_ms"] <= result["max_ms"]
    assert result["size"] == [64, 96] and result["runs"] == 3 and result["peak_rss_mb"] > 10
    assert benchmark(tflite_model("fixed"), runs=1).size == list(FIXED_SIZE)
    with pytest.raises(UserError, match="expected --size 32x48"):
        benchmark(tflite_model("fixed"), size=(480, 720), runs=1)
    full = benchmark_full_resolution(tflite_model("fixed"), size=(100, 150), overlap=8)
    assert full.tile == list(FIXED_SIZE) and full.tiles == 4 * 4 and full.ms > 0


def test_light_modules_do_not_import_tensorflow():
    code = ("import sys\n"
            "import mobiledenoise.deploy.runtime, mobiledenoise.deploy.tiling, "
            "mobiledenoise.deploy.bench, mobiledenoise.evaluate.runner, "
            "mobiledenoise.evaluate.report\n"
            "heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
            "print(heavy)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
