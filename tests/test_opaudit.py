"""GPU-delegate op audit: passes the baseline exports, fails (with a readable log) on unsupported
ops, 5-D tensors and dynamic shapes, and refuses files that are not TFLite models."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from mobiledenoise.cli import app
from mobiledenoise.deploy.opaudit import audit
from mobiledenoise.errors import UserError

SIZE = (32, 48)


@pytest.fixture(scope="module")
def exports(tiny_unet) -> dict[str, bytes]:
    from mobiledenoise.deploy.convert import to_tflite

    rng = np.random.default_rng(1)
    calib = [rng.random((*SIZE, 3), dtype=np.float32) for _ in range(4)]
    return {p: to_tflite(tiny_unet, precision=p, size=SIZE, calibration=calib) for p in ("fp32", "fp16", "int8")}


def _convert_plain(model) -> bytes:
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def _expected_macs(model, size) -> int:
    """MACs of the Keras model's convolutions, from its layer shapes at `size`."""
    import keras

    from mobiledenoise.models import build_model

    fixed = build_model(model.family, model.config, input_shape=(*size, 3), batch_size=1)
    total = 0
    for layer in fixed.layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            _, h, w, cin = layer.input.shape
            kh, kw = layer.kernel_size
            total += h * w * cin * kh * kw * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, cout = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * cout * kh * kw * layer.input.shape[-1]
    return total


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_baseline_unet_runs_wholly_on_the_gpu_delegate(exports, tiny_unet, precision):
    report = audit(exports[precision])
    assert report.compatible, report.render()
    # the two 2×2 transposed convs are exported as 1×1 conv + DEPTH_TO_SPACE (unet.deploy)
    assert report.histogram["CONV_2D"] == 13 and report.histogram["DEPTH_TO_SPACE"] == 2
    assert "TRANSPOSE_CONV" not in report.histogram
    assert report.macs == _expected_macs(tiny_unet, SIZE)
    assert report.inputs[0].shape == (1, *SIZE, 3)
    assert report.size_bytes == len(exports[precision])
    assert "all" in report.render() and "error log" not in report.render()


def test_params_match_the_keras_model(exports, tiny_unet):
    from mobiledenoise.models.registry import deployable

    # the exported graph's: each 1×1 conv standing for a 2×2 transposed conv repeats its bias 4×
    deployed = deployable(tiny_unet).count_params()
    assert audit(exports["fp32"]).params == audit(exports["fp16"]).params == deployed
    assert deployed == tiny_unet.count_params() + 3 * (8 + 4)  # up-conv biases of 8 and 4


def test_unsupported_ops_fail_with_a_readable_log(tmp_path):
    import keras
    import tensorflow as tf

    class Unsupported(keras.layers.Layer):
        def call(self, x):
            lrn = tf.nn.local_response_normalization(x, depth_radius=1)
            ordered = tf.sort(x, axis=-1)
            return tf.math.floormod(x, 0.25) + tf.sign(x - 0.5) + lrn + ordered

    inputs = keras.Input((8, 8, 3), batch_size=1)
    data = _convert_plain(keras.Model(inputs, Unsupported()(inputs)))
    report = audit(data)
    assert not report.compatible
    failed = {f.op for f in report.failures}
    assert {"FLOOR_MOD", "SIGN", "LOCAL_RESPONSE_NORMALIZATION", "TOPK_V2"} <= failed
    text = report.render()
    assert "error log for incompatible operations" in text
    for finding in report.failures:
        assert f"op #{finding.index} {finding.op}: not supported by the TFLite GPU delegate" in text
    assert "ADD" not in failed  # supported ops stay supported

    path = tmp_path / "bad.tflite"
    path.write_bytes(data)
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "TOPK_V2" in result.output and "error log for incompatible operations" in result.output


def test_five_d_tensors_are_refused():
    import keras

    import tensorflow as tf

    class Swap(keras.layers.Layer):  # RESHAPE is supported, but not to a 5-D tensor
        def call(self, x):
            return tf.transpose(x, perm=[0, 2, 1, 3, 4])

    inputs = keras.Input((8, 8, 3), batch_size=1)
    x = Swap()(keras.layers.Reshape((4, 2, 8, 3))(inputs))
    data = _convert_plain(keras.Model(inputs, keras.layers.Reshape((8, 8, 3))(x)))
    report = audit(data)
    assert not report.compatible
    assert any(f.op == "RESHAPE" and "5-D tensor" in f.reason for f in report.failures), report.render()


def test_dynamic_shape_export_is_refused(tiny_unet):
    from mobiledenoise.deploy.convert import to_tflite

    report = audit(to_tflite(tiny_unet, size=None))
    assert not report.compatible
    assert report.inputs[0].shape[1] == -1
    assert any("dynamic shape" in f.reason for f in report.failures)


def test_check_cli_passes_and_prints_json(exports, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(exports["int8"])
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "MACs" in result.output and "CONV_2D x13" in result.output
    result = CliRunner().invoke(app, ["check", str(path), "--json"])
    parsed = json.loads(result.output)
    assert parsed["compatible"] is True and parsed["macs"] > 0 and len(parsed["ops"]) == 22


def _png_bytes() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["empty", "random", "png", "truncated"])
def test_bad_files_are_user_errors(exports, tmp_path, kind):
    good = exports["fp32"]
    contents = {"empty": b"", "random": np.random.default_rng(0).bytes(4096), "png": _png_bytes(),
                "truncated": good[: len(good) // 2]}[kind]
    path = tmp_path / "model.tflite"
    path.write_bytes(contents)
    with pytest.raises(UserError, match="expected"):
        audit(path)
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert result.output.startswith("Error: expected") and result.output.count("\n") == 1
    if kind == "png":
        assert "PNG" in result.output


def test_every_truncation_is_detected(exports):
    good = exports["fp32"]
    for cut in np.linspace(8, len(good) - 1, 25).astype(int):
        with pytest.raises(UserError):
            audit(good[:cut])


def test_audit_does_not_import_tensorflow(exports, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(exports["fp32"])
    code = ("import sys; from mobiledenoise.deploy.opaudit import audit; "
            f"assert audit({str(path)!r}).compatible; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
