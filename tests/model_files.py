"""Tiny .tflite files for the LiteRT tests, built once per test process.

`tflite_model(kind)` converts a small Keras model (fixed | dynamic | identity | conv | gray |
two_outputs | int8) with TensorFlow — imported here only, never by the code under test.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np

FIXED_SIZE = (32, 48)
_TMP = tempfile.TemporaryDirectory(prefix="md-tflite-")
_KERAS: dict = {}


def _keras_model(kind: str):
    import keras

    from mobiledenoise.models import build_model

    keras.utils.set_random_seed(0)
    if kind == "fixed":
        return build_model("unet", preset="tiny", input_shape=(*FIXED_SIZE, 3), batch_size=1)
    if kind == "dynamic":
        return build_model("unet", preset="tiny", input_shape=(None, None, 3), batch_size=1)
    inputs = keras.Input((None, None, 3), batch_size=1)
    if kind == "identity":
        return keras.Model(inputs, keras.layers.Activation("linear")(inputs))
    if kind == "conv":  # receptive radius 2: tiled must equal untiled
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(x))
    if kind == "gray":
        gray = keras.Input((*FIXED_SIZE, 1), batch_size=1)
        return keras.Model(gray, keras.layers.Conv2D(1, 3, padding="same")(gray))
    if kind == "two_outputs":
        return keras.Model(inputs, [keras.layers.Conv2D(3, 1)(inputs), keras.layers.ReLU()(inputs)])
    raise ValueError(kind)


@functools.cache
def tflite_model(kind: str) -> Path:
    """Path of a tiny .tflite: fixed | dynamic | identity | conv | gray | two_outputs | int8."""
    import tensorflow as tf

    model = _keras_model("fixed" if kind == "int8" else kind)
    _KERAS[kind] = model
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if kind == "int8":
        rng = np.random.default_rng(0)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [rng.random((1, *FIXED_SIZE, 3), dtype=np.float32)] for _ in range(8))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
    path = Path(_TMP.name) / f"{kind}.tflite"
    path.write_bytes(converter.convert())
    return path


def keras_reference(kind: str, x: np.ndarray) -> np.ndarray:
    tflite_model(kind)
    return np.asarray(_KERAS[kind](x[None], training=False))[0]


