"""INT8 percentile ranges: internal activation ranges narrow, pixel tensors keep min/max, and
on real photos the shipped INT8 file stays within the issue's 0.15 dB of FP32."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from mobiledenoise.cli import app
from mobiledenoise.data.calibration import synthetic_pair
from mobiledenoise.deploy.convert import to_tflite
from mobiledenoise.deploy.int8_ranges import pixel_tensors
from mobiledenoise.deploy.tflite_graph import read_graph
from mobiledenoise.errors import UserError

SIZE = (32, 48)


@pytest.fixture(scope="module")
def calib() -> list[np.ndarray]:
    return [synthetic_pair((40, 56), sigma=0.08, seed=s)[0] for s in range(6)]


def _scales(data: bytes) -> dict[str, float]:
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_content=data).get_tensor_details()
    return {d["name"]: d["quantization"][0] for d in details if d["dtype"] == np.int8}


def test_percentile_narrows_internal_ranges_and_keeps_pixel_ranges(tiny_unet, calib):
    minmax = to_tflite(tiny_unet, precision="int8", size=SIZE, calibration=calib)
    narrowed = to_tflite(tiny_unet, precision="int8", size=SIZE, calibration=calib, range_percentile=99.0)
    before, after = _scales(minmax), _scales(narrowed)
    assert before.keys() == after.keys()
    graph = read_graph(narrowed)
    pixel = {graph.tensors[i].name for i in pixel_tensors(graph)} & before.keys()
    internal = before.keys() - pixel
    assert pixel and internal
    assert all(after[name] == before[name] for name in pixel)  # image, residual, output
    assert all(after[name] <= before[name] * (1 + 1e-6) for name in internal)  # never widened
    assert sum(after[name] < 0.95 * before[name] for name in internal) >= len(internal) // 2


def test_pixel_tensors_stop_at_weighted_ops(tiny_unet):
    graph = read_graph(to_tflite(tiny_unet, precision="fp32", size=SIZE))
    keep = pixel_tensors(graph)
    assert set(graph.inputs) | set(graph.outputs) <= keep
    first_conv = next(op for op in graph.operators if graph.inputs[0] in op.inputs)
    assert first_conv.name == "CONV_2D" and not set(first_conv.outputs) & keep
    # the residual: output = input + conv(features); the conv's output carries pixel values
    (last_add,) = [op for op in graph.operators if op.name == "ADD" and graph.inputs[0] in op.inputs]
    assert set(last_add.inputs) <= keep


def test_percentile_is_checked(tiny_unet, calib):
    with pytest.raises(UserError, match="percentile in"):
        to_tflite(tiny_unet, precision="int8", size=SIZE, calibration=calib, range_percentile=30.0)


def test_percentiles_never_silently_fall_back_to_min_max(calib):
    from tensorflow.lite.python import lite

    from mobiledenoise.deploy.int8_ranges import percentile_ranges

    quantize = lite._mlir_quantize
    with pytest.raises(UserError, match="did not"):
        with percentile_ranges(calib, 99.99):
            pass  # a conversion that never reaches the quantizer
    assert lite._mlir_quantize is quantize  # the converter is restored


def test_cli_refuses_a_percentile_without_int8(tmp_path):
    result = CliRunner().invoke(app, ["export", "unet", "--size", "32x48", "--calib-percentile",
                                      "99.99", "-o", str(tmp_path / "m.tflite")])
    assert result.exit_code == 2 and "--calib-percentile only with --precision int8" in result.output
    assert not (tmp_path / "m.tflite").exists()


def _polyu_val_psnr(polyu_cropped, name: str, precision: str) -> float:
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.evaluate.runner import evaluate_pairs, select_pairs
    from mobiledenoise.weights import shipped_model_path

    denoiser = TFLiteDenoiser(shipped_model_path(name, precision), threads=2)
    return evaluate_pairs(denoiser.denoise, select_pairs(polyu_cropped, val_only=True),
                          progress=False).psnr


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fast", "default"])
def test_shipped_int8_stays_within_target_of_fp32_on_real_validation_scenes(polyu_cropped, name):
    # Issue #6's target: INT8 loses at most 0.15 dB against FP32 on PolyU's validation scenes.
    fp32, int8 = (_polyu_val_psnr(polyu_cropped, name, p) for p in ("fp32", "int8"))
    assert 37.0 < fp32 < 40.0
    assert fp32 - int8 <= 0.15, (fp32, int8)


@pytest.mark.slow
def test_default_int8_is_better_than_fast_int8_on_real_validation_scenes(polyu_cropped):
    # Whatever its loss to its own FP32, the default rung must beat the fast one at INT8 too.
    assert _polyu_val_psnr(polyu_cropped, "default", "int8") > \
        _polyu_val_psnr(polyu_cropped, "fast", "int8") + 0.05
