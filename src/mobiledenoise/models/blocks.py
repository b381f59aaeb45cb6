"""Layers shared by the model families. Only ops the mobile GPU delegate runs
(CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, ADD, MUL, CONCATENATION, pooling, resize,
RELU/PReLU/sigmoid) — see GPU_DELEGATE_OPS.md."""

from __future__ import annotations

import keras
from keras import layers


def activation(kind: str, name: str | None = None) -> layers.Layer:
    if kind == "prelu":
        return layers.PReLU(shared_axes=[1, 2], name=name)
    if kind == "lrelu":
        return layers.LeakyReLU(negative_slope=0.2, name=name)
    return layers.Activation(kind, name=name)


def conv(x, filters: int, kernel: int = 3, *, strides: int = 1, act: str | None = "relu",
         name: str | None = None):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", name=name)(x)
    if act:
        x = activation(act, name=f"{name}_act" if name else None)(x)
    return x


def down(x, filters: int, kind: str = "maxpool", name: str | None = None):
    """Halve H and W: max pooling or a stride-2 3×3 conv."""
    if kind == "maxpool":
        return layers.MaxPooling2D(2, name=name)(x)
    if kind == "avgpool":
        return layers.AveragePooling2D(2, name=name)(x)
    if kind == "conv":
        return conv(x, filters, 3, strides=2, name=name)
    raise ValueError(f"unknown down-sampling {kind!r}")


def up(x, filters: int, kind: str = "transpose", name: str | None = None):
    """Double H and W: 2×2 transposed conv, or bilinear/nearest resize (no weights)."""
    if kind == "transpose":
        return layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=name)(x)
    if kind in ("bilinear", "nearest"):
        return layers.UpSampling2D(2, interpolation=kind, name=name)(x)
    raise ValueError(f"unknown up-sampling {kind!r}")


def residual_output(inputs, features, name: str = "residual"):
    """Predict the noise residual: output = input + conv(features)."""
    delta = layers.Conv2D(3, 3, padding="same", name=f"{name}_conv")(features)
    return layers.Add(name=name)([inputs, delta])


__all__ = ["activation", "conv", "down", "up", "residual_output", "keras"]
