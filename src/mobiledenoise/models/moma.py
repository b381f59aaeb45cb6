"""`moma` — MOMA-Denoise (4th place): a NAS-tuned light U-Net of depthwise-separable convs.

Report §4.4: separable convolutions, max pooling down, up-sampling up; NAS chose the filter
and channel sizes; 1404 KB. The searchable sizes are config fields: `widths` (channels per
level), `kernel` (depthwise filter size), `convs_per_level`.
Choices where the text is silent:
- every conv is depthwise (multiplier 1) + 1×1 pointwise + ReLU; the first layer is a plain
  3×3 conv (a depthwise conv on 3 RGB channels learns almost nothing).
- up-sampling is a `bilinear` resize (weight-free RESIZE_BILINEAR, half-pixel centres, which
  the GPU delegate runs; the exported graph has static shapes because export rebuilds at a
  fixed 1×H×W×3). `nearest` and `transpose` are available for search.
- decoder: resize -> concat encoder skip -> separable convs; output = input + 3×3 conv
  (zero-initialised: a fresh model is the identity).
- He-normal initialisation of the stem and every separable conv (`INIT`). With Keras' Glorot
  default each separable conv shrank the signal ~6× (depthwise fan-in 9, then a ReLU): the
  head's input was 1e-4 of the stem's scale, the zero head got no gradient, and 557 Table 1
  steps (15 CPU minutes) left the model exactly at the identity.
`default` widths (32, 64, 96, 160, 288) give ~0.37 M parameters (~1.45 MB FP32).

`encode(config)` / `decode(text)` give the compact string a search candidate is named by,
e.g. ``w32-64-96_k3_c2_up:bilinear`` (its search space: `search/spaces/moma.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from keras import layers

from mobiledenoise.errors import UserError
from mobiledenoise.models import blocks
from mobiledenoise.models.registry import register_model
from mobiledenoise.models.transforms import deploy_learnt_up


@dataclass(frozen=True)
class MomaConfig:
    widths: tuple[int, ...] = (32, 64, 96, 160, 288)
    kernel: int = 3
    convs_per_level: int = 2
    up: str = "bilinear"  # bilinear | nearest | transpose | depth_to_space (transpose deployed)

    def __post_init__(self):
        if len(self.widths) < 2 or self.kernel % 2 == 0:
            raise UserError(f"expected >= 2 moma widths and an odd kernel, received widths="
                            f"{self.widths!r}, kernel={self.kernel}")
        blocks.check_up(self.up, "moma")

    @property
    def multiple(self) -> int:
        return 2 ** (len(self.widths) - 1)


INIT = "he_normal"  # see the docstring


@register_model("moma", config=MomaConfig, presets={
    "default": {},
    "tiny": {"widths": (8, 16), "convs_per_level": 1},
}, deploy=deploy_learnt_up)
def build_moma(config: MomaConfig, inputs):
    """MOMA-Denoise: NAS-sized U-Net of depthwise-separable convs, max pooling, up-sampling."""
    x = blocks.conv(inputs, config.widths[0], name="stem", kernel_initializer=INIT)
    skips = []
    for level, width in enumerate(config.widths):
        if level:
            x = layers.MaxPooling2D(2, name=f"enc{level}_down")(x)
        for i in range(config.convs_per_level):
            x = blocks.sepconv(x, width, config.kernel, name=f"enc{level}_sep{i}",
                               kernel_initializer=INIT)
        skips.append(x)
    for level in reversed(range(len(config.widths) - 1)):
        width = config.widths[level]
        x = blocks.up(x, width, config.up, name=f"dec{level}_up")
        x = layers.Concatenate(name=f"dec{level}_skip")([x, skips[level]])
        for i in range(config.convs_per_level):
            x = blocks.sepconv(x, width, config.kernel, name=f"dec{level}_sep{i}",
                               kernel_initializer=INIT)
    return blocks.residual_output(inputs, x)


def encode(config: MomaConfig) -> str:
    """The compact string naming a search candidate (see module docstring)."""
    return (f"w{'-'.join(map(str, config.widths))}_k{config.kernel}_c{config.convs_per_level}"
            f"_up:{config.up}")


def decode(text: str) -> MomaConfig:
    """Inverse of `encode`; fields left out keep their defaults."""
    values: dict = {}
    try:
        for part in text.split("_"):
            if part.startswith("w"):
                values["widths"] = tuple(int(v) for v in part[1:].split("-"))
            elif part.startswith("k"):
                values["kernel"] = int(part[1:])
            elif part.startswith("c"):
                values["convs_per_level"] = int(part[1:])
            elif part.startswith("up:"):
                values["up"] = part[3:]
            else:
                raise ValueError(f"unknown part {part!r}")
    except ValueError as exc:
        raise UserError(f"expected a moma candidate string like {encode(MomaConfig())!r}, "
                        f"received {text!r} ({exc})") from None
    return MomaConfig(**values)
