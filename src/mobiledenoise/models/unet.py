"""`unet` — the plain baseline: a small U-Net that predicts the noise residual.

Encoder levels of two 3×3 conv + ReLU, halving resolution with max pooling and doubling the
width; a bottleneck; decoder levels with a 2×2 transposed conv, concatenation with the
encoder skip, two 3×3 convs; output = input + 3×3 conv. Mobile-GPU ops only.
The `default` preset (width 16, depth 3) has ~0.3 M parameters.

`mobile` (width 8: ~2.9 GMAC at 720×480, 80 k parameters, output clamped to [0, 1]) is the
shipped default model's architecture. `entry="stride2"` is an option that moves every conv to half resolution or
below (a stride-2 3×3 conv in, a 2×2 stride-2 transposed conv out); in our runs it stayed
stuck at the identity on PolyU (validation PSNR = input PSNR after 1,000 steps at lr 1e-3 or
2e-3, with ReLU, PReLU or LeakyReLU), so it is not used for the shipped model.
"""

from __future__ import annotations

from dataclasses import dataclass

from keras import layers

from mobiledenoise.models import blocks
from mobiledenoise.models.registry import register_model


@dataclass(frozen=True)
class UNetConfig:
    width: int = 16  # channels at full resolution; doubled per level
    depth: int = 3  # number of down-samplings
    convs_per_level: int = 2
    act: str = "relu"
    up: str = "transpose"  # transpose | bilinear | nearest
    entry: str = "full"  # full | stride2 (all convs at half resolution or below)
    clip: bool = False  # clamp the output to [0, 1]

    @property
    def multiple(self) -> int:
        return 2 ** (self.depth + (self.entry == "stride2"))


@register_model("unet", config=UNetConfig,
                presets={"default": {}, "tiny": {"width": 4, "depth": 2}, "wide": {"width": 32},
                         "mobile": {"width": 8, "depth": 3, "clip": True}})
def build_unet(config: UNetConfig, inputs):
    """Baseline U-Net predicting the noise residual."""
    if config.entry not in ("full", "stride2"):
        raise ValueError(f"unknown entry {config.entry!r}: full | stride2")
    x = inputs
    if config.entry == "stride2":
        x = blocks.conv(inputs, config.width, strides=2, act=config.act, name="entry")
    skips = []
    for level in range(config.depth):
        width = config.width * 2**level
        for i in range(config.convs_per_level):
            x = blocks.conv(x, width, act=config.act, name=f"enc{level}_conv{i}")
        skips.append(x)
        x = blocks.down(x, width, "maxpool", name=f"enc{level}_down")
    for i in range(config.convs_per_level):
        x = blocks.conv(x, config.width * 2 ** (config.depth - 1), act=config.act, name=f"mid_conv{i}")
    for level in reversed(range(config.depth)):
        width = config.width * 2**level
        x = blocks.up(x, width, config.up, name=f"dec{level}_up")
        x = layers.Concatenate(name=f"dec{level}_cat")([x, skips[level]])
        for i in range(config.convs_per_level):
            x = blocks.conv(x, width, act=config.act, name=f"dec{level}_conv{i}")
    if config.entry == "stride2":
        delta = layers.Conv2DTranspose(3, 2, strides=2, padding="same", name="exit")(x)
        output = layers.Add(name="residual")([inputs, delta])
    else:
        output = blocks.residual_output(inputs, x)
    # The clamp has no weights and cannot lower PSNR (scores clip to 0..255 anyway), but it
    # pins the INT8 output scale to exactly 1/255, so the int8 output grid is the 8-bit grid.
    return layers.ReLU(max_value=1.0, name="clip")(output) if config.clip else output
