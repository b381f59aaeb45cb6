"""Quantisation-aware fine-tuning: train through the int8 rounding the INT8 export will apply.

`fake_quant_model(model)` returns a clone of a registry model that shares its layers (so
training the clone trains the original's weights) with a `FakeQuant` after every tensor that
TFLite's full-integer conversion stores as int8: the input, and each layer output — except a
conv or add whose only consumer is a ReLU (clamped or not), because TFLite fuses that ReLU into
the op and rounds only after it. It simulates the graph `export` writes: a transposed conv is
rounded on its own output range, as its deployed 1×1 conv + DEPTH_TO_SPACE form is (unet.deploy).

Design choices:
- Activations only, per tensor, asymmetric 8-bit: what `TFLiteConverter` does with a
  representative dataset. Weights are not fake-quantised: the converter stores conv kernels per
  output channel, whose rounding error is far smaller than that of the per-tensor activations.
- Ranges are running averages of each batch's min/max (momentum 0.99, always including 0, like
  the converter's ranges), not learnt: the export calibrates its own ranges on real images, so
  training must make the weights robust to ranges of that kind, not to a learnt set that the
  converter would not use.
- Rounding is `tf.quantization.fake_quant_with_min_max_vars`'s arithmetic (nudged range,
  straight-through gradient inside it, zero outside), written in keras.ops (`fake_quant`) so
  quantisation-aware training runs on the torch backend too.
- The ranges are not checkpointed: a resumed run re-estimates them within a few dozen steps.

Measured on the shipped model (PolyU validation): the clone's simulated INT8 loss is 0.25 dB,
and the exported file's is 0.33 dB, since the converter's ranges and arithmetic differ a little.
Fine-tuning through the clone lowered the exported loss to 0.27 dB; exporting with percentile
ranges (deploy/int8_ranges.py) then took it to 0.14 dB. The clone keeps min/max-style ranges:
they are the wider ones, so training against them is the conservative choice.
"""

from __future__ import annotations

import keras
from keras import ops

FUSED_ACTIVATIONS = ("relu",)  # conv/add + ReLU is one TFLite op, rounded once after the ReLU
_FUSING_LAYERS = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.DepthwiseConv2D,
                  keras.layers.Add)


class FakeQuant(keras.layers.Layer):
    """Round a tensor to the 8-bit grid of its running [min, max] range (min ≤ 0 ≤ max)."""

    def __init__(self, momentum: float = 0.99, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def build(self, input_shape):
        self.range_min = self.add_weight(shape=(), initializer="zeros", trainable=False, name="min")
        self.range_max = self.add_weight(shape=(), initializer="zeros", trainable=False, name="max")
        self.batches = self.add_weight(shape=(), initializer="zeros", trainable=False, name="batches")

    def call(self, x, training=False):
        if training:
            low = ops.stop_gradient(ops.minimum(ops.min(x), 0.0))
            high = ops.stop_gradient(ops.maximum(ops.max(x), 0.0))
            keep = ops.where(self.batches > 0, self.momentum, 0.0)  # the first batch sets the range
            self.range_min.assign(keep * self.range_min + (1.0 - keep) * low)
            self.range_max.assign(keep * self.range_max + (1.0 - keep) * high)
            self.batches.assign_add(1.0)
        high = ops.maximum(self.range_max, self.range_min + 1e-6)  # no range yet: a tiny one
        return fake_quant(x, self.range_min, high)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


def fake_quant(x, low, high, levels: int = 255):
    """`tf.quantization.fake_quant_with_min_max_vars(x, low, high, num_bits=8)` in keras.ops:
    the range is nudged so that 0 is a grid point, values are clamped to it and rounded half
    up; the gradient passes straight through inside the range and is 0 outside."""
    scale = (high - low) / levels
    zero_point = ops.clip(ops.floor(-low / scale + 0.5), 0.0, float(levels))
    nudged_low, nudged_high = -zero_point * scale, (levels - zero_point) * scale
    clamped = ops.clip(x, nudged_low, nudged_high)
    rounded = ops.floor((clamped - nudged_low) / scale + 0.5) * scale + nudged_low
    return clamped + ops.stop_gradient(rounded - clamped)


def _consumers(model: keras.Model, layer) -> list:
    """The layers of `model` that take `layer`'s output as an input (public `input`/`output`)."""
    return [other for other in model.layers
            if not isinstance(other, keras.layers.InputLayer)
            and any(tensor is layer.output for tensor in keras.tree.flatten(other.input))]


def _fuses_into_next(model: keras.Model, layer) -> bool:
    """True when TFLite fuses `layer`'s only consumer (a ReLU) into it."""
    if not isinstance(layer, _FUSING_LAYERS):
        return False
    consumers = _consumers(model, layer)
    if len(consumers) != 1:
        return False
    consumer = consumers[0]
    if isinstance(consumer, keras.layers.Activation):
        return getattr(consumer.activation, "__name__", "") in FUSED_ACTIVATIONS
    # A clamping ReLU (max_value) fuses too: TFLite runs ADD/CONV + RELU, then a MINIMUM that
    # keeps its input's scale, so the op's output is already rounded on the clamp's range.
    return (isinstance(consumer, keras.layers.ReLU) and not consumer.negative_slope
            and not consumer.threshold)


def fake_quant_model(model: keras.Model) -> keras.Model:
    """A clone of `model` sharing its layers, with int8 fake quantisation (module docstring)."""
    skip = {layer.name for layer in model.layers if _fuses_into_next(model, layer)}

    def call(layer, *args, **kwargs):
        output = layer(*args, **kwargs)
        if layer.name in skip:
            return output
        return FakeQuant(name=f"{layer.name}_fq")(output)

    clone = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
    inputs = keras.Input(batch_shape=model.inputs[0].shape, name="noisy")
    outputs = clone(FakeQuant(name="input_fq")(inputs))
    return keras.Model(inputs, outputs, name=f"{model.name}_fake_quant")
