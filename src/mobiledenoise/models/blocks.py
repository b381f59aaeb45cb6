"""Layers shared by the model families. Only ops the mobile GPU delegate runs
(CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, ADD, MUL, CONCATENATION, pooling, resize,
RELU/PReLU/sigmoid) — see GPU_DELEGATE_OPS.md."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from mobiledenoise.errors import UserError


def activation(kind: str, name: str | None = None) -> layers.Layer:
    if kind == "prelu":
        return layers.PReLU(shared_axes=[1, 2], name=name)
    if kind == "lrelu":
        return layers.LeakyReLU(negative_slope=0.2, name=name)
    return layers.Activation(kind, name=name)


def conv(x, filters: int, kernel: int = 3, *, strides: int = 1, act: str | None = "relu",
         name: str | None = None, kernel_initializer: str = "glorot_uniform"):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", name=name,
                      kernel_initializer=kernel_initializer)(x)
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


UP_KINDS = ("bilinear", "nearest", "transpose", "depth_to_space")


def check_up(kind: str, family: str) -> None:
    """UserError unless `kind` is an up-sampling `up` builds (a family config's `up` field)."""
    if kind not in UP_KINDS:
        raise UserError(f"expected {family} up one of {', '.join(UP_KINDS)}, received {kind!r}; "
                        "fix the recipe or override")


def up(x, filters: int, kind: str = "transpose", name: str | None = None):
    """Double H and W: 2×2 transposed conv, the same map as a 1×1 conv + DEPTH_TO_SPACE
    (`depth_to_space`, see `transpose_to_depth_to_space`), or bilinear/nearest resize."""
    if kind in ("transpose", "depth_to_space"):
        return learnt_up(x, filters, 2, kind, name=name)
    if kind in ("bilinear", "nearest"):
        return layers.UpSampling2D(2, interpolation=kind, name=name)(x)
    raise ValueError(f"unknown up-sampling {kind!r}")


class DepthToSpace(layers.Layer):
    """Move channel blocks to space (TFLite DEPTH_TO_SPACE): C·s² channels -> s× larger H, W."""

    def __init__(self, block: int, **kwargs):
        super().__init__(**kwargs)
        self.block = block

    def call(self, x):
        return keras.ops.depth_to_space(x, self.block)

    def get_config(self):
        return {**super().get_config(), "block": self.block}


def learnt_up(x, filters: int, block: int, kind: str = "transpose", *, kernel: int | None = None,
              kernel_initializer="glorot_uniform", name: str | None = None):
    """Multiply H and W by `block` with weights: a kernel×kernel stride-block transposed conv
    (`transpose`; kernel defaults to block), or the same map as a conv to filters·block²
    channels + DEPTH_TO_SPACE (`depth_to_space`; the conv keeps the name, so weights convert by
    name, see `transpose_to_depth_to_space`; it is 1×1 when kernel = block)."""
    kernel = kernel or block
    if kind == "transpose":
        return layers.Conv2DTranspose(filters, kernel, strides=block, padding="same",
                                      kernel_initializer=kernel_initializer, name=name)(x)
    if kind != "depth_to_space":
        raise ValueError(f"unknown learnt up-sampling {kind!r}: transpose | depth_to_space")
    size = 2 * _subpixel_reach(kernel, block) + 1
    x = layers.Conv2D(filters * block * block, size, padding="same",
                      kernel_initializer=kernel_initializer, name=name)(x)
    return DepthToSpace(block, name=f"{name}_d2s" if name else None)(x)


def _subpixel_taps(kernel: int, block: int) -> list[tuple[int, int, int]]:
    """(output phase a, input offset d, kernel tap t) of a "same" stride-`block` transposed
    conv: output row block·m + a takes input row m + d through tap t. TF pads the transposed
    conv's input side by (kernel - block) // 2 before, so row y = block·i + t - pad."""
    pad = max(kernel - block, 0) // 2
    return [(a, (a + pad - t) // block, t) for a in range(block) for t in range(kernel)
            if (a + pad - t) % block == 0]


def _subpixel_reach(kernel: int, block: int) -> int:
    return max(abs(d) for _, d, _ in _subpixel_taps(kernel, block))


def transpose_to_depth_to_space(kernel, bias, block: int | None = None):
    """Weights of a k×k stride-`block` "same" Conv2DTranspose (kernel k×k×out×in; block
    defaults to k) as the conv of `learnt_up(kind="depth_to_space")`: output pixel (a, b) of
    each block×block cell is channel block a·block + b; the conv is 1×1 when k = block, else
    (2r+1)×(2r+1) with r the farthest input offset a tap reaches (3×3 for mier's 4×4 / 2)."""
    k, _, out_channels, in_channels = kernel.shape
    block = block or k
    taps, reach = _subpixel_taps(k, block), _subpixel_reach(k, block)
    size = 2 * reach + 1
    conv = np.zeros((size, size, in_channels, block * block * out_channels), kernel.dtype)
    for a, dy, ty in taps:
        for b, dx, tx in taps:
            first = (a * block + b) * out_channels
            conv[reach + dy, reach + dx, :, first:first + out_channels] = kernel[ty, tx].T
    return conv, np.tile(bias, block * block)


def residual_output(inputs, features, name: str = "residual"):
    """Predict the noise residual: output = input + conv(features). The conv starts at zero, so
    a fresh model is the identity (the noisy input's PSNR) with a gradient into that conv; a
    random (Glorot) start adds a residual that short runs spend their steps cancelling (at
    step 1 an ENERZAi sub-net scored 22.7 dB on PolyU, whose noisy input is 35.95 dB)."""
    delta = layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros",
                          name=f"{name}_conv")(features)
    return layers.Add(name=name)([inputs, delta])


__all__ = ["activation", "conv", "down", "up", "residual_output", "DepthToSpace",
           "learnt_up", "transpose_to_depth_to_space", "sepconv", "channel_attention",
           "dense_block", "ChannelSplit", "acnet_conv", "acnet_fused_conv", "fold_acnet", "keras"]


# --- Blocks used by the MAI 2021 finalist families (zoo) -------------------------------------


def sepconv(x, filters: int, kernel: int = 3, *, dilation: int = 1, act: str | None = "relu",
            name: str | None = None, kernel_initializer: str = "glorot_uniform"):
    """Depthwise-separable conv: k×k depthwise (multiplier 1, as the GPU delegate needs) then a
    1×1 pointwise conv, one activation at the end (MobileNet-style, fewer ops)."""
    depthwise_init = kernel_initializer
    if kernel_initializer == "he_normal":
        # Keras counts a depthwise kernel's fan-in as k·k·channels (its true fan-in is k·k), so
        # its He init would shrink the signal by √channels; no ReLU follows, so keep variance.
        depthwise_init = keras.initializers.RandomNormal(stddev=1.0 / kernel)
    x = layers.DepthwiseConv2D(kernel, padding="same", dilation_rate=dilation,
                               depthwise_initializer=depthwise_init,
                               name=f"{name}_dw" if name else None)(x)
    return conv(x, filters, 1, act=act, name=f"{name}_pw" if name else None,
                kernel_initializer=kernel_initializer)


def channel_attention(x, reduction: int = 8, name: str = "ca"):
    """Squeeze-excite channel attention: MEAN over H,W (keepdims) -> 1×1 conv -> ReLU ->
    1×1 conv -> sigmoid -> MUL. All four map to GPU-delegate ops (MEAN, CONV_2D, LOGISTIC, MUL)."""
    channels = x.shape[-1]
    w = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    w = layers.Conv2D(max(1, channels // reduction), 1, activation="relu", name=f"{name}_down")(w)
    w = layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_up")(w)
    return layers.Multiply(name=f"{name}_mul")([x, w])


def dense_block(x, growth: int, n_layers: int, *, act: str = "relu", name: str = "dense"):
    """Residual dense block: each 3×3 conv sees the concatenation of the input and all earlier
    outputs; a 1×1 conv fuses them back to the input width; the input is added (RDN-style)."""
    features = [x]
    for i in range(n_layers):
        inp = features[0] if i == 0 else layers.Concatenate(name=f"{name}_cat{i}")(features)
        features.append(conv(inp, growth, act=act, name=f"{name}_conv{i}"))
    fused = layers.Concatenate(name=f"{name}_cat{n_layers}")(features)
    fused = conv(fused, x.shape[-1], 1, act=None, name=f"{name}_fuse")
    return layers.Add(name=name)([x, fused])


@keras.saving.register_keras_serializable(package="mobiledenoise")
class ChannelSplit(layers.Layer):
    """Split the channel axis into `parts` equal groups (TFLite SPLIT, GPU-delegate op)."""

    def __init__(self, parts: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.parts = parts

    def call(self, x):
        return keras.ops.split(x, self.parts, axis=-1)

    def compute_output_shape(self, input_shape):
        channels = None if input_shape[-1] is None else input_shape[-1] // self.parts
        return [(*input_shape[:-1], channels)] * self.parts

    def get_config(self):
        return {**super().get_config(), "parts": self.parts}


# ACNet (asymmetric convolution) blocks. Each branch pads explicitly and symmetrically
# (PyTorch `padding=1` semantics), so the 1×3 and 3×1 kernels sit exactly on the 3×3 kernel's
# centre row/column at any stride; TF's "same" padding is asymmetric at stride 2 and would
# misalign them, making the fusion inexact.
_ACNET_BRANCHES = {"k3": ((3, 3), ((1, 1), (1, 1))), "k13": ((1, 3), ((0, 0), (1, 1))),
                   "k31": ((3, 1), ((1, 1), (0, 0)))}


def acnet_conv(x, filters: int, *, strides: int = 1, name: str, zero_init: bool = False):
    """Training-time ACNet block: 3×3 + 1×3 + 3×1 convs (no bias), each with BatchNorm, summed.
    `fold_acnet` turns its weights into one 3×3 conv with bias (`acnet_fused_conv`).
    `zero_init`: the BatchNorm scales start at zero, so the block starts by returning zeros."""
    outputs = []
    for branch, (kernel, pad) in _ACNET_BRANCHES.items():
        y = layers.ZeroPadding2D(pad, name=f"{name}_{branch}_pad")(x)
        y = layers.Conv2D(filters, kernel, strides=strides, use_bias=False,
                          name=f"{name}_{branch}")(y)
        outputs.append(layers.BatchNormalization(gamma_initializer="zeros" if zero_init else "ones",
                                                 name=f"{name}_{branch}_bn")(y))
    return layers.Add(name=name)(outputs)


def acnet_fused_conv(x, filters: int, *, strides: int = 1, name: str, zero_init: bool = False):
    """The deployed form of `acnet_conv`: one 3×3 conv with bias named `name`. Stride 1 uses
    "same" padding (symmetric for 3×3); stride 2 pads explicitly to keep PyTorch alignment."""
    init = "zeros" if zero_init else "glorot_uniform"
    if strides == 1:
        return layers.Conv2D(filters, 3, padding="same", kernel_initializer=init, name=name)(x)
    x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return layers.Conv2D(filters, 3, strides=strides, kernel_initializer=init, name=name)(x)


def fold_acnet(model, name: str):
    """(kernel 3×3×Cin×Cout, bias Cout) equal to ACNet block `name` of `model` in inference mode:
    each branch's BatchNorm is folded into its kernel, and the 1×3 / 3×1 kernels are added onto
    the centre row / column of the 3×3 kernel."""
    import numpy as np

    kernel, bias = 0.0, 0.0
    for branch, ((kh, kw), _) in _ACNET_BRANCHES.items():
        k = np.asarray(model.get_layer(f"{name}_{branch}").kernel)
        bn = model.get_layer(f"{name}_{branch}_bn")
        scale = np.asarray(bn.gamma) / np.sqrt(np.asarray(bn.moving_variance) + bn.epsilon)
        padded = np.zeros((3, 3, *k.shape[2:]), k.dtype)
        top, left = (3 - kh) // 2, (3 - kw) // 2
        padded[top:top + kh, left:left + kw] = k
        kernel = kernel + padded * scale
        bias = bias + np.asarray(bn.beta) - np.asarray(bn.moving_mean) * scale
    return kernel, bias
