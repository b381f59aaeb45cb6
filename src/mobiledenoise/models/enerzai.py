"""`enerzai` and `enerzai_dense` — ENERZAi Research's two models (3rd place; fastest, 81 KB).

`enerzai` (report §4.3, Fig. 5), Once-for-All style: a super-network and a sub-network share
one U-Net module. The sub-network ends in one conv; the super-network adds residual dense
blocks on top; after joint training the super-net's blocks are detached and the sub-net is
fine-tuned alone. Here:
- trunk: U-Net of `widths` (`convs_per_level` 3×3 conv + ReLU per level, max pooling down,
  2×2 transposed conv up, concatenated skips), giving full-resolution features.
- sub-net: output = input + head(features), `head` one 3×3 conv — the deployed model
  (`default` widths (10, 20, 40): ~23 k parameters, ~89 KB FP32).
- super-net: output = input + head(RDBs(features)): the same trunk and the same head conv, with
  `super_blocks` residual dense blocks (layers named `super_*`, `dense_layers` convs of
  `growth` channels each, width-preserving) inserted before the head. Removing those blocks
  gives the sub-net exactly, which is how "detachable" is read here.

`build_super_and_sub(config)` builds both from ONE set of layer objects on one input, so the
trunk's weights are shared (assigning through one model changes the other). How the training
side (knowledge transfer / OFA) uses it:

    super_net, sub_net = build_super_and_sub(config)
    joint = keras.Model(sub_net.input, [super_net.output, sub_net.output])  # shared input
    # phase 1: minimise L(super) + L(sub) (L1 + MS-SSIM in the report) on `joint`;
    # phase 2, once validation PSNR passes a threshold: train `sub_net` alone.
    # Export: `registry.deployable(super_net or sub_net)` returns a registry-built sub-net with
    # the trained weights (`detach_super`), so the super-net's blocks never reach the TFLite file.

`enerzai_dense` (§4.3, Fig. 6; not in the official test phase): a shallow U-Net with a densely
connected block with skip connections (residual dense block) in its bottleneck and PReLU
activations everywhere; 118 KB. `default`: widths (8, 16, 32), 4 dense convs of growth 8
(~29.5 k parameters, ~115 KB FP32).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from mobiledenoise.models import blocks, transforms
from mobiledenoise.models.denoiser import Denoiser
from mobiledenoise.models.registry import register_model


@dataclass(frozen=True)
class EnerzaiConfig:
    widths: tuple[int, ...] = (10, 20, 40)
    convs_per_level: int = 1
    super_blocks: int = 2
    growth: int = 16
    dense_layers: int = 4
    up: str = "transpose"  # transpose | depth_to_space (its deployed form)

    @property
    def multiple(self) -> int:
        return 2 ** (len(self.widths) - 1)


def unet_trunk(x, widths, convs_per_level: int, act: str = "relu", bottleneck=None,
               up: str = "transpose"):
    """U-Net features at full resolution; `bottleneck(x)` (if given) runs at the lowest level."""
    skips = []
    for level, width in enumerate(widths):
        if level:
            x = layers.MaxPooling2D(2, name=f"enc{level}_down")(x)
        for i in range(convs_per_level):
            x = blocks.conv(x, width, act=act, name=f"enc{level}_conv{i}")
        skips.append(x)
    if bottleneck is not None:
        x = bottleneck(x)
    for level in reversed(range(len(widths) - 1)):
        x = blocks.up(x, widths[level], up, name=f"dec{level}_up")
        x = layers.Concatenate(name=f"dec{level}_skip")([x, skips[level]])
        for i in range(convs_per_level):
            x = blocks.conv(x, widths[level], act=act, name=f"dec{level}_conv{i}")
    return x


def _super_blocks(config: EnerzaiConfig, features):
    x = features
    for b in range(config.super_blocks):
        x = blocks.dense_block(x, config.growth, config.dense_layers, name=f"super_rdb{b}")
    return x


@register_model("enerzai", config=EnerzaiConfig, presets={
    "default": {},
    "tiny": {"widths": (4, 8), "super_blocks": 1, "growth": 4, "dense_layers": 2},
}, deploy=lambda model: detach_super(model),
    supernet=lambda config: build_super_and_sub(config))
def build_enerzai(config: EnerzaiConfig, inputs):
    """ENERZAi: once-for-all sub-net (shared U-Net + one conv); super-net: build_super_and_sub."""
    features = unet_trunk(inputs, config.widths, config.convs_per_level, up=config.up)
    return blocks.residual_output(inputs, features)


def build_super_and_sub(config: EnerzaiConfig | None = None, input_shape=(None, None, 3),
                        batch_size=None) -> tuple[keras.Model, keras.Model]:
    """(super_model, sub_model) sharing one input and the trunk's layer objects (see docstring)."""
    config = config or EnerzaiConfig()
    inputs = keras.Input(shape=tuple(input_shape), batch_size=batch_size, name="noisy")
    features = unet_trunk(inputs, config.widths, config.convs_per_level, up=config.up)
    # the names blocks.residual_output gives, so the sub-net matches build_model("enerzai")
    head = layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="residual_conv")
    sub_out = layers.Add(name="residual")([inputs, head(features)])
    super_out = layers.Add(name="super_residual")([inputs, head(_super_blocks(config, features))])
    # Both are `enerzai` Denoisers: the super-net is the family's training form, and its
    # deploy transform (`detach_super`) gives the registry's sub-net.
    sub_model = Denoiser(inputs, sub_out, family="enerzai", config=config, name="enerzai")
    super_model = Denoiser(inputs, super_out, family="enerzai", config=config, name="enerzai_super")
    return super_model, sub_model


def detach_super(model) -> keras.Model:
    """The deployable sub-net: a registry-built `enerzai` carrying `model`'s trunk and sub-head
    weights (the super-net's `super_*` blocks are dropped), its transposed convs written as
    1×1 conv + DEPTH_TO_SPACE. A deployed sub-net is returned unchanged."""
    deployed = transforms.deploy_learnt_up(model)
    is_super = any(layer.name.startswith("super_") for layer in model.layers)
    return transforms.rebuild(model) if deployed is model and is_super else deployed


@dataclass(frozen=True)
class EnerzaiDenseConfig:
    widths: tuple[int, ...] = (8, 16, 32)
    convs_per_level: int = 1
    growth: int = 8
    dense_layers: int = 4
    act: str = "prelu"
    up: str = "transpose"  # transpose | depth_to_space (its deployed form)

    @property
    def multiple(self) -> int:
        return 2 ** (len(self.widths) - 1)


@register_model("enerzai_dense", config=EnerzaiDenseConfig, presets={
    "default": {},
    "tiny": {"widths": (4, 8), "growth": 4, "dense_layers": 2},
}, deploy=transforms.deploy_learnt_up)
def build_enerzai_dense(config: EnerzaiDenseConfig, inputs):
    """ENERZAi (2nd model): shallow PReLU U-Net with a residual dense block in the bottleneck."""
    def bottleneck(x):
        return blocks.dense_block(x, config.growth, config.dense_layers, act=config.act,
                                  name="mid_rdb")

    features = unet_trunk(inputs, config.widths, config.convs_per_level, config.act, bottleneck,
                          config.up)
    return blocks.residual_output(inputs, features)
