"""ONNX import: every mapped op matches ONNX Runtime, `export MODEL.onnx` writes a verified
NHWC .tflite with its sidecar (FP32 and INT8 calibrated on image patches), and what cannot be
converted is refused with one line naming the op or the shape, exit 2, nothing written."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from typer.testing import CliRunner

import onnx_models
from mobiledenoise.cli import app
from mobiledenoise.deploy.onnx_import import onnx_to_keras
from mobiledenoise.deploy.opaudit import audit


@pytest.mark.parametrize("build", [onnx_models.unet, onnx_models.every_op])
def test_mapped_ops_match_onnxruntime(build):
    model = build()
    keras_model = onnx_to_keras(model, (32, 48))
    image = np.random.default_rng(0).random((1, 32, 48, 3), dtype=np.float32)
    expected = onnx_models.run_onnx(model, image.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)
    got = np.asarray(keras_model(image))
    assert np.abs(expected - image).max() > 1e-2  # the graph does something
    np.testing.assert_allclose(got, expected, atol=1e-5)


def _save(model, folder, name="m.onnx"):
    path = folder / name
    onnx.save(model, str(path))
    return path


def test_export_onnx_fp32_cli(tmp_path):
    source = _save(onnx_models.unet(), tmp_path)
    out = tmp_path / "m.tflite"
    result = CliRunner().invoke(app, ["export", str(source), "--size", "32x48", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "PSNR vs onnxruntime" in result.output
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["model"] == "onnx:m" and sidecar["reference_runtime"] == "onnxruntime"
    assert sidecar["input_size"] == [32, 48] and sidecar["verification"]["max_abs_diff"] <= 1e-4
    assert sidecar["gpu_delegate_compatible"] is True
    report = audit(out.read_bytes())
    assert report.inputs[0].shape == (1, 32, 48, 3) and report.outputs[0].shape == (1, 32, 48, 3)
    assert "TRANSPOSE" not in report.histogram  # NHWC throughout, no layout shuffles


def test_export_onnx_int8_calibrates_on_patches(tmp_path, pair_folder):
    source = _save(onnx_models.unet(), tmp_path)
    out = tmp_path / "q.tflite"
    result = CliRunner().invoke(app, ["export", str(source), "--size", "32x48", "--precision",
                                      "int8", "--calib", str(pair_folder), "-o", str(out)])
    assert result.exit_code == 0, result.output
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["calibration"]["patches"] == 32 and sidecar["verification"]["psnr_target"] == "clean"
    assert sidecar["verification"]["psnr_tflite_vs_keras_db"] >= 25
    assert {"QUANTIZE", "DEQUANTIZE"} <= set(audit(out.read_bytes()).histogram)  # int8 inside


def _two_inputs():
    w = onnx_models.Weights()
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, "H", "W"]) for n in ("image", "sigma")]
    return onnx_models.graph_model([helper.make_node("Add", ["image", "sigma"], ["out"])], w, inputs=inputs)


def _unsupported_op():
    w = onnx_models.Weights()
    return onnx_models.graph_model([helper.make_node("Transpose", ["image"], ["t"], perm=[0, 1, 3, 2]),
                                    helper.make_node("Transpose", ["t"], ["out"], perm=[0, 1, 3, 2])], w)


def _four_channels():
    w = onnx_models.Weights()
    return onnx_models.graph_model([w.conv("out", "image", 4, 3)], w, input_shape=(1, 4, "H", "W"))


def _align_corners():
    w = onnx_models.Weights()
    scales = w.add("scales", (4,), value=[1, 1, 1, 1])
    return onnx_models.graph_model([helper.make_node(
        "Resize", ["image", "", scales], ["out"], mode="linear",
        coordinate_transformation_mode="align_corners")], w)


@pytest.mark.parametrize("build, size, message", [
    (_two_inputs, "32x48", "one image input, received 2 inputs (image, sigma)"),
    (_unsupported_op, "32x48", "received unsupported op Transpose"),
    (_four_channels, "32x48", "1x3xHxW, received 'image' of shape 1x4xHxW"),
    (_align_corners, "32x48", "coordinate_transformation_mode align_corners in Resize node"),
    (lambda: onnx_models.unet(input_shape=(1, 3, 16, 16)), "32x48", "expected --size 16x16"),
])
def test_unconvertible_models_are_refused_in_one_line(tmp_path, build, size, message):
    source = _save(build(), tmp_path)
    out = tmp_path / "out" / "m.tflite"
    result = CliRunner().invoke(app, ["export", str(source), "--size", size, "-o", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: expected") and message in lines[0]
    assert not out.parent.exists()


def test_not_an_onnx_file_is_refused(tmp_path):
    source = tmp_path / "m.onnx"
    source.write_bytes(b"not a protobuf at all")
    result = CliRunner().invoke(app, ["export", str(source), "-o", str(tmp_path / "m.tflite")])
    assert result.exit_code == 2 and "Error: expected a valid ONNX model" in result.output
