"""`gdalgo` — GdAlgo (6th place, best fidelity): Guided Attention U-Net, multi-stage.

Report §4.6 (Fig. 9): a U-Net whose standard convs are replaced by channel attention blocks,
trained with the multi-stage strategy of MPRNet; Charbonnier loss; 18 288 KB, ~5 s on Mali.
Choices where the text is silent (MPRNet-like, GPU-delegate ops only):
- channel attention block (CAB): 3×3 conv -> ReLU -> 3×3 conv -> channel attention (MEAN over
  H,W keepdims -> 1×1 conv /`reduction` -> ReLU -> 1×1 conv -> sigmoid -> MUL) + identity.
- stage U-Net: `cabs_per_level` CABs per level on the way down and again on the way up;
  down = 2×2 average pooling + 1×1 conv (MPRNet's bilinear ×0.5 + 1×1); up = bilinear ×2 +
  1×1 conv, added to the encoder skip.
- `stages` stages. Stage 1: shallow 3×3 conv + CAB -> U-Net -> supervised attention module
  (SAM): stage output image = input + 3×3 conv (layer `stage1_output`), and features gated by
  sigmoid(conv(image)) pass to the next stage. Stage s > 1: its own shallow features
  concatenated with the SAM features (1×1 conv), and cross-stage feature fusion: the previous
  stage's encoder and decoder features at each level enter this stage's encoder via 1×1 convs.
  The last stage's output (input + 3×3 conv) is the model's output.
- multi-stage supervision for training: `stage_outputs(model)` returns a model with every
  stage's image as outputs (one loss per stage); inference and export use the last only.
`default` (widths (40, 80, 152), 2 CABs per level, 2 stages) has ~4.75 M parameters (~18.6 MB).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from mobiledenoise.models import blocks
from mobiledenoise.models.registry import register_model


@dataclass(frozen=True)
class GdalgoConfig:
    widths: tuple[int, ...] = (40, 80, 152)
    cabs_per_level: int = 2
    stages: int = 2
    reduction: int = 8

    @property
    def multiple(self) -> int:
        return 2 ** (len(self.widths) - 1)


def cab(x, reduction: int, name: str):
    """Channel attention block: conv-ReLU-conv, channel attention, identity skip."""
    y = blocks.conv(x, x.shape[-1], name=f"{name}_conv0")
    y = blocks.conv(y, x.shape[-1], act=None, name=f"{name}_conv1")
    y = blocks.channel_attention(y, reduction, name=f"{name}_ca")
    return layers.Add(name=name)([x, y])


def _cabs(x, config: GdalgoConfig, name: str):
    for i in range(config.cabs_per_level):
        x = cab(x, config.reduction, f"{name}_cab{i}")
    return x


def _stage_unet(x, config: GdalgoConfig, prefix: str, previous=None):
    """(encoder features, decoder features) per level; `previous` = the last stage's pair."""
    encoder = []
    for level, width in enumerate(config.widths):
        if level:
            x = layers.AveragePooling2D(2, name=f"{prefix}_enc{level}_pool")(x)
            x = blocks.conv(x, width, 1, act=None, name=f"{prefix}_enc{level}_down")
        x = _cabs(x, config, f"{prefix}_enc{level}")
        if previous is not None:  # cross-stage feature fusion
            fused = [blocks.conv(f[level], width, 1, act=None, name=f"{prefix}_csff{level}_{k}")
                     for k, f in zip(("enc", "dec"), previous)]
            x = layers.Add(name=f"{prefix}_csff{level}")([x, *fused])
        encoder.append(x)
    decoder = [None] * len(config.widths)
    for level in reversed(range(len(config.widths))):
        if level < len(config.widths) - 1:
            x = blocks.up(x, 0, "bilinear", name=f"{prefix}_dec{level}_resize")
            x = blocks.conv(x, config.widths[level], 1, act=None, name=f"{prefix}_dec{level}_up")
            x = layers.Add(name=f"{prefix}_dec{level}_skip")([x, encoder[level]])
        x = _cabs(x, config, f"{prefix}_dec{level}")
        decoder[level] = x
    return encoder, decoder


def _sam(features, inputs, name: str):
    """Supervised attention: (stage image, features gated by the image for the next stage)."""
    width = features.shape[-1]
    image = blocks.residual_output(inputs, features, name=f"{name}_output")
    gate = blocks.conv(image, width, act="sigmoid", name=f"{name}_gate")
    x = blocks.conv(features, width, act=None, name=f"{name}_feat")
    x = layers.Multiply(name=f"{name}_gated")([x, gate])
    return image, layers.Add(name=f"{name}_sam")([x, features])


@register_model("gdalgo", config=GdalgoConfig, presets={
    "default": {},
    "tiny": {"widths": (8, 8), "cabs_per_level": 1, "reduction": 4},
})
def build_gdalgo(config: GdalgoConfig, inputs):
    """GdAlgo: multi-stage Guided Attention U-Net of channel-attention blocks (MPRNet-style)."""
    previous, carried = None, None
    for stage in range(1, config.stages + 1):
        prefix = f"stage{stage}"
        x = blocks.conv(inputs, config.widths[0], act=None, name=f"{prefix}_shallow")
        x = cab(x, config.reduction, f"{prefix}_shallow_cab")
        if carried is not None:
            x = layers.Concatenate(name=f"{prefix}_join")([x, carried])
            x = blocks.conv(x, config.widths[0], 1, act=None, name=f"{prefix}_join_proj")
        previous = _stage_unet(x, config, prefix, previous)
        if stage < config.stages:
            _, carried = _sam(previous[1][0], inputs, prefix)
    return blocks.residual_output(inputs, previous[1][0])


def stage_outputs(model) -> keras.Model:
    """A model (same layers) whose outputs are every stage's image, for multi-stage losses."""
    stages = model.config.stages
    outputs = [model.get_layer(f"stage{s}_output").output for s in range(1, stages)]
    return keras.Model(model.input, [*outputs, model.output], name=f"{model.name}_stages")
