"""Quantisation-aware fine-tuning: the fake-quant clone predicts what the INT8 export computes,
and a quantization_aware run trains and exports like any other."""

import numpy as np
import pytest

from mobiledenoise.models import build_model
from mobiledenoise.train.fake_quant import FakeQuant, fake_quant_model


def _images(count: int, size: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = np.repeat(np.repeat(rng.random((count, size // 8, size // 8, 3)), 8, 1), 8, 2)
    return np.clip(smooth + rng.normal(0, 0.05, smooth.shape), 0, 1).astype(np.float32)


def test_clone_shares_weights_and_rounds_where_tflite_does():
    model = build_model("unet", preset="tiny")
    quantised = fake_quant_model(model)
    assert [id(v) for v in quantised.trainable_variables] == [id(v) for v in model.trainable_variables]
    inner = [layer for layer in quantised.layers if hasattr(layer, "layers")][0]
    rounded = {layer.name[:-3] for layer in inner.layers if isinstance(layer, FakeQuant)}
    assert "enc0_conv0_act" in rounded and "enc0_conv0" not in rounded  # ReLU fused into the conv
    assert "residual_conv" in rounded  # no ReLU after it: its own output is rounded
    clamped = fake_quant_model(build_model("unet", preset="tiny", clip=True))
    inner = [layer for layer in clamped.layers if hasattr(layer, "layers")][0]
    rounded = {layer.name[:-3] for layer in inner.layers if isinstance(layer, FakeQuant)}
    assert "residual" not in rounded and "clip" in rounded  # rounded once, on the [0, 1] clamp


@pytest.mark.parametrize("low,high", [(-0.3, 1.2), (0.0, 1.0), (-2.0, 0.0), (-0.01, 3.7)])
def test_fake_quant_rounds_and_passes_gradients_like_tensorflows_op(low, high):
    import tensorflow as tf

    from mobiledenoise.train.fake_quant import fake_quant

    x = tf.constant(np.random.default_rng(0).uniform(low - 0.5, high + 0.5, 4000), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = fake_quant(x, tf.constant(low), tf.constant(high))
        reference = tf.quantization.fake_quant_with_min_max_vars(x, low, high, num_bits=8)
    np.testing.assert_allclose(ours, reference, atol=1e-6)
    np.testing.assert_array_equal(tape.gradient(ours, x), tape.gradient(reference, x))


def test_fake_quant_error_matches_the_int8_export_error():
    # The clone must round as coarsely as the export does: its error against the float model
    # has the size of the INT8 .tflite's error (not ~0 as without rounding, not far larger).
    from ai_edge_litert.interpreter import Interpreter

    from mobiledenoise.deploy.convert import to_tflite

    model = build_model("unet", preset="tiny", input_shape=(32, 32, 3), batch_size=None)
    calib = _images(16)
    quantised = fake_quant_model(model)
    quantised(calib, training=True)  # one batch: its ranges are the calibration set's min/max
    interpreter = Interpreter(model_content=to_tflite(model, precision="int8", size=(32, 32),
                                                      calibration=list(calib)))
    interpreter.allocate_tensors()
    x = _images(1, seed=1)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    int8 = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    reference = np.asarray(model(x))
    int8_error = np.mean((int8 - reference) ** 2)
    fake_error = np.mean((np.asarray(quantised(x, training=False)) - reference) ** 2)
    assert 0.5 * int8_error < fake_error < 2.0 * int8_error, (fake_error, int8_error)


def test_quantization_aware_run_trains_and_saves_a_plain_model(pair_folder, tmp_path):
    from mobiledenoise.train import config as train_config
    from mobiledenoise.train.runs import load_model
    from mobiledenoise.train.trainer import train

    config = train_config.resolve(None, {
        "model": "unet", "preset": "tiny", "data": [str(pair_folder)], "patch_size": 16,
        "batch_size": 4, "steps": 12, "val_every": 6, "checkpoint_every": 6, "val_crop": 32,
        "quantization_aware": True})
    train(config, tmp_path / "run", progress=False)
    model = load_model(tmp_path / "run", weights="last")
    assert not any(isinstance(layer, FakeQuant) for layer in model.layers)
    assert model.count_params() == build_model("unet", preset="tiny").count_params()


def test_quantization_aware_refuses_once_for_all():
    from mobiledenoise.errors import UserError
    from mobiledenoise.train import config as train_config

    with pytest.raises(UserError, match="quantization_aware"):
        train_config.resolve(None, {"model": "enerzai", "quantization_aware": True,
                                    "ofa_threshold_db": 30.0})
