"""`megvii` — Megvii (2nd place): a light U-Net with split decoder blocks.

Report §4.2: 3×3 convs in all layers, feature-map widths multiples of 8, no residual blocks;
each decoder block = a conv whose output is split into two groups, each fed to its own conv
with half the channels (half the MACs of a full-width second conv); 14 276 KB.
Choices where the text is silent (written here, tested):
- encoder: `convs_per_level` 3×3 conv + ReLU per level, 2×2 max pooling down (no weights);
  the last level is the bottleneck.
- up-sampling: `bilinear` resize (default; weight-free, so every weighted layer stays a 3×3
  conv) or `transpose` (2×2 transposed conv); then concatenation with the encoder skip.
- decoder block: 3×3 conv to the level width -> SPLIT in two -> two 3×3 convs of width/2 ->
  CONCATENATION. SPLIT is a GPU-delegate op (a grouped conv would not be).
- output: input + 3×3 conv (a global skip; not a residual block), zero-initialised (a fresh
  model is the identity).
- He-normal initialisation of every other conv (`INIT`). Keras' default Glorot init halves the
  signal's variance at each ReLU conv of this deep plain net (no normalisation): at the
  bottleneck its activations are ~1 % of the input's scale. He init keeps the scale. What
  still held it at the identity in Table 1's data mix was the loss, not the net: see
  `train.losses._psnr_loss`.
`default` widths (24, 48, 96, 184, 352) give ~3.74 M parameters (~14.6 MB FP32).
"""

from __future__ import annotations

from dataclasses import dataclass

from keras import layers

from mobiledenoise.errors import UserError
from mobiledenoise.models import blocks
from mobiledenoise.models.registry import register_model
from mobiledenoise.models.transforms import deploy_learnt_up


INIT = "he_normal"  # see the docstring


@dataclass(frozen=True)
class MegviiConfig:
    widths: tuple[int, ...] = (24, 48, 96, 184, 352)
    convs_per_level: int = 2
    up: str = "bilinear"  # bilinear | nearest | transpose | depth_to_space (transpose deployed)

    def __post_init__(self):
        if len(self.widths) < 2 or any(w <= 0 or w % 8 for w in self.widths):
            raise UserError(f"expected at least 2 megvii widths, each a multiple of 8, received "
                            f"{self.widths!r}; round them to multiples of 8")
        blocks.check_up(self.up, "megvii")

    @property
    def multiple(self) -> int:
        return 2 ** (len(self.widths) - 1)


def split_decoder_block(x, width: int, name: str):
    """3×3 conv -> split in two halves -> two half-width 3×3 convs -> concatenate."""
    x = blocks.conv(x, width, name=f"{name}_conv", kernel_initializer=INIT)
    halves = blocks.ChannelSplit(2, name=f"{name}_split")(x)
    halves = [blocks.conv(h, width // 2, name=f"{name}_half{i}", kernel_initializer=INIT)
              for i, h in enumerate(halves)]
    return layers.Concatenate(name=f"{name}_cat")(halves)


@register_model("megvii", config=MegviiConfig, presets={
    "default": {},
    "tiny": {"widths": (8, 16, 16), "convs_per_level": 1},
}, deploy=deploy_learnt_up)
def build_megvii(config: MegviiConfig, inputs):
    """Megvii: light 3×3-only U-Net whose decoder blocks split features into two half convs."""
    x, skips = inputs, []
    for level, width in enumerate(config.widths):
        if level:
            x = blocks.down(x, width, "maxpool", name=f"enc{level}_down")
        for i in range(config.convs_per_level):
            x = blocks.conv(x, width, name=f"enc{level}_conv{i}", kernel_initializer=INIT)
        skips.append(x)
    for level in reversed(range(len(config.widths) - 1)):
        width = config.widths[level]
        x = blocks.up(x, width, config.up, name=f"dec{level}_up")
        x = layers.Concatenate(name=f"dec{level}_skip")([x, skips[level]])
        x = split_decoder_block(x, width, f"dec{level}")
    return blocks.residual_output(inputs, x)
