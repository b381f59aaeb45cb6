"""`unet` — the plain baseline: a small U-Net that predicts the noise residual.

Encoder levels of 3×3 conv + ReLU, halving resolution with max pooling and multiplying the
width by `growth`; a bottleneck; decoder levels with a 2×2 transposed conv, the encoder skip
(concatenated, or added with `skip="add"`), 3×3 convs; output = input + residual. Mobile-GPU
ops only.
The `default` preset (width 16, depth 3) has ~0.3 M parameters.

`entry` sets the resolution the convolutions work at. `full`: the first level runs at full
resolution and the residual comes from a 3×3 conv. `stride2` / `stride4`: the image enters
through a stride-2 3×3 conv (stride 4: a 4×4 "patchify" conv), which also counts as the first
conv of level 0, and the residual leaves through an s×s stride-s transposed conv (a learnt
depth-to-space). On this CPU a half-resolution U-Net of the same GMAC runs ~2× faster than a
full-resolution one (XNNPACK is memory-bound on 8-channel full-size tensors).

`stem` (with a strided entry) adds a full-resolution conv of `stem` channels before the entry
and, after the learnt exit (now to `stem` channels), adds the stem's features back and leaves
through a zero-initialised 3×3 conv: the noise's finest scale gets full-resolution weights at a
fraction of a full-resolution level's cost (`benchmarks/capacity_probe.py --latency-only`).

The strided exit starts at zero, so training starts from the identity with a non-zero gradient
into the exit. With Keras' default (Glorot) exit, the first steps spend themselves cancelling
a large random residual. On PolyU's weak noise that stride-2 net stayed at the identity
(validation PSNR = input PSNR after 1,000 steps, with ReLU, PReLU or LeakyReLU). With the zero
exit, `fast` left it at once: 36.4 dB at step 500 against 35.95 dB for the input. That is one
run, not a study.

Presets: `mobile` (width 8, full resolution, 2.95 GMAC at 720×480, 80 k parameters, output
clamped to [0, 1]) was the first shipped model; `fast` (width 16/32/64, depth 3, one conv per
level, added skips, half resolution: 1.01 GMAC, 136 k parameters, clamped) was the first and
second shipped `fast`: ~5× faster than `mobile` at 720×480 on one CPU thread. The shipped
`fast` is that preset with `stem=8, width=12` (0.80 GMAC, 78 k parameters; recipes/fast.yaml),
the shipped `default` with `entry="full"` and `up="depth_to_space"` (4.1 GMAC;
recipes/default.yaml).

Exported form (the registry's deploy hook, `transforms.deploy_learnt_up`): every stride-s
transposed conv (the `up`s and a strided entry's exit) as the same map written as a 1×1 conv +
DEPTH_TO_SPACE (`up="depth_to_space"`), which keeps INT8 ranges tight.
"""

from __future__ import annotations

from dataclasses import dataclass

from keras import layers

from mobiledenoise.models import blocks
from mobiledenoise.models.registry import register_model
from mobiledenoise.models.transforms import deploy_learnt_up

_ENTRY_STRIDE = {"full": 1, "stride2": 2, "stride4": 4}


@dataclass(frozen=True)
class UNetConfig:
    width: int = 16  # channels of level 0; multiplied by `growth` per level
    depth: int = 3  # number of down-samplings
    convs_per_level: int = 2
    act: str = "relu"
    up: str = "transpose"  # transpose | depth_to_space (its deployed form) | bilinear | nearest
    entry: str = "full"  # full | stride2 | stride4: resolution of level 0 (see docstring)
    growth: int = 2  # width factor per level (1 = constant width)
    skip: str = "concat"  # concat | add: how a decoder level takes its encoder skip
    clip: bool = False  # clamp the output to [0, 1]
    stem: int = 0  # with a strided entry: channels of a full-resolution stem and head (0: none)

    @property
    def multiple(self) -> int:
        return 2**self.depth * _ENTRY_STRIDE.get(self.entry, 1)


@register_model("unet", config=UNetConfig,
                presets={"default": {}, "tiny": {"width": 4, "depth": 2}, "wide": {"width": 32},
                         "mobile": {"width": 8, "depth": 3, "clip": True},
                         "fast": {"width": 16, "depth": 3, "convs_per_level": 1,
                                  "entry": "stride2", "skip": "add", "clip": True},
                         "quality": {"width": 32, "depth": 3, "convs_per_level": 1,
                                     "entry": "stride2", "skip": "add", "clip": True}},
                deploy=deploy_learnt_up)
def build_unet(config: UNetConfig, inputs):
    """Baseline U-Net predicting the noise residual."""
    if config.entry not in _ENTRY_STRIDE:
        raise ValueError(f"unknown entry {config.entry!r}: {' | '.join(_ENTRY_STRIDE)}")
    if config.up not in ("transpose", "depth_to_space", "bilinear", "nearest"):
        raise ValueError(f"unknown up {config.up!r}: transpose | depth_to_space | bilinear | nearest")
    if config.skip not in ("concat", "add"):
        raise ValueError(f"unknown skip {config.skip!r}: concat | add")
    stride = _ENTRY_STRIDE[config.entry]
    if config.stem and stride == 1:
        raise ValueError("a full-resolution stem needs a strided entry (stride2 | stride4)")
    x = inputs
    if config.stem:
        x = stem = blocks.conv(inputs, config.stem, act=config.act, name="stem")
    if stride > 1:
        kernel = 3 if stride == 2 else stride
        x = blocks.conv(x, config.width, kernel, strides=stride, act=config.act, name="entry")
    skips = []
    for level in range(config.depth):
        width = config.width * config.growth**level
        first = 1 if (level == 0 and stride > 1) else 0  # the entry conv is level 0's first
        for i in range(first, config.convs_per_level):
            x = blocks.conv(x, width, act=config.act, name=f"enc{level}_conv{i}")
        skips.append(x)
        x = blocks.down(x, width, "maxpool", name=f"enc{level}_down")
    for i in range(config.convs_per_level):
        x = blocks.conv(x, config.width * config.growth ** (config.depth - 1), act=config.act,
                        name=f"mid_conv{i}")
    for level in reversed(range(config.depth)):
        width = config.width * config.growth**level
        x = blocks.up(x, width, config.up, name=f"dec{level}_up")
        if config.skip == "add":  # half the input channels of the next conv: ~half its cost
            x = layers.Add(name=f"dec{level}_add")([x, skips[level]])
        else:
            x = layers.Concatenate(name=f"dec{level}_cat")([x, skips[level]])
        for i in range(config.convs_per_level):
            x = blocks.conv(x, width, act=config.act, name=f"dec{level}_conv{i}")
    if config.stem:  # back to full resolution, the stem's features added, a 3×3 conv out
        kind = "depth_to_space" if config.up == "depth_to_space" else "transpose"
        x = blocks.learnt_up(x, config.stem, stride, kind, name="exit")
        x = layers.Add(name="head_add")([x, stem])
        x = blocks.activation(config.act, name="head_act")(x)
        output = blocks.residual_output(inputs, x)
    elif stride > 1:
        kind = "depth_to_space" if config.up == "depth_to_space" else "transpose"
        delta = blocks.learnt_up(x, 3, stride, kind, kernel_initializer="zeros", name="exit")
        output = layers.Add(name="residual")([inputs, delta])
    else:
        output = blocks.residual_output(inputs, x)
    # The clamp has no weights and cannot lower PSNR (scores clip to 0..255 anyway), but it
    # pins the INT8 output scale to exactly 1/255, so the int8 output grid is the 8-bit grid.
    return layers.ReLU(max_value=1.0, name="clip")(output) if config.clip else output
