"""`noahtcv` — NOAHTCV (challenge winner): a NAS-found multi-scale encoder-decoder.

Report §4.1: NAS over a mobile-safe operator space, starting from a multi-scale architecture;
skip connections matter most for fidelity, down/up-sampling ops for runtime; 209 KB.
Figure 3's exact cell is not in the text, so this module is the *search space* the NAS issue
explores, and `default` is one point in it sized like the submission (~53 k parameters,
~206 KB FP32: plain convs at full resolution, dilated and separable convs deeper, max pooling):

- `widths[l]` channels at level l (full resolution first; len(widths)-1 down-samplings, the
  last level is the bottleneck); `blocks_per_level` blocks at each level.
- op per block: `encoder_ops[l]` (one per level incl. bottleneck) and `decoder_ops[l]` (one per
  decoder level, full resolution first), each `conv3x3` | `dwsep` (depthwise-separable) |
  `dilated` (3×3, dilation 2).
- `down`: `conv` (stride-2 3×3 conv) | `maxpool` | `avgpool`; `up`: `transpose` (2×2
  transposed conv) | `bilinear` | `nearest` (resize, then a 1×1 conv to the level's width).
- `skip`: `add` (cheaper) or `concat` (+ a 1×1 conv back to the width) for encoder->decoder
  skips; the output is always input + 3×3 conv (a global skip: the net predicts the noise).

`encode(config)` / `decode(text)` give the compact string a search candidate is named by,
e.g. ``w16-24-32-48_e:c3.c3.dl.ds_d:c3.ds.ds_b2_dn:maxpool_up:transpose_sk:add_a:relu``.
"""

from __future__ import annotations

from dataclasses import dataclass

from keras import layers

from mobiledenoise.errors import UserError
from mobiledenoise.models import blocks
from mobiledenoise.models.registry import register_model
from mobiledenoise.models.transforms import deploy_learnt_up

OPS = {"conv3x3": "c3", "dwsep": "ds", "dilated": "dl"}
DOWNS = ("conv", "maxpool", "avgpool")
UPS = ("transpose", "bilinear", "nearest")  # the searched choices
DEPLOYED_UP = "depth_to_space"  # `transpose` as exported (transforms.deploy_learnt_up)
SKIPS = ("add", "concat")


@dataclass(frozen=True)
class NoahTCVConfig:
    widths: tuple[int, ...] = (16, 24, 32, 48)
    encoder_ops: tuple[str, ...] = ("conv3x3", "conv3x3", "dilated", "dwsep")
    decoder_ops: tuple[str, ...] = ("conv3x3", "dwsep", "dwsep")
    blocks_per_level: int = 2
    down: str = "maxpool"
    up: str = "transpose"
    skip: str = "add"
    act: str = "relu"

    def __post_init__(self):
        levels = len(self.widths)
        _check(levels >= 2, "at least 2 widths (one down-sampling)", self.widths)
        _check(len(self.encoder_ops) == levels, f"{levels} encoder_ops", self.encoder_ops)
        _check(len(self.decoder_ops) == levels - 1, f"{levels - 1} decoder_ops", self.decoder_ops)
        for op in (*self.encoder_ops, *self.decoder_ops):
            _check(op in OPS, f"ops from {', '.join(OPS)}", op)
        _check(self.down in DOWNS, f"down one of {', '.join(DOWNS)}", self.down)
        _check(self.up in (*UPS, DEPLOYED_UP), f"up one of {', '.join(UPS)}", self.up)
        _check(self.skip in SKIPS, f"skip one of {', '.join(SKIPS)}", self.skip)
        _check(self.blocks_per_level >= 1, "blocks_per_level >= 1", self.blocks_per_level)

    @property
    def multiple(self) -> int:
        return 2 ** (len(self.widths) - 1)


def _check(ok: bool, expected: str, received) -> None:
    if not ok:
        raise UserError(f"expected {expected} in the noahtcv config, received {received!r}; "
                        "fix the recipe or override")


def _block(x, op: str, width: int, act: str, name: str):
    if op == "dwsep":
        return blocks.sepconv(x, width, act=act, name=name)
    dilation = 2 if op == "dilated" else 1
    x = layers.Conv2D(width, 3, padding="same", dilation_rate=dilation, name=name)(x)
    return blocks.activation(act, name=f"{name}_act")(x)


def _level(x, op: str, width: int, config: NoahTCVConfig, prefix: str):
    for i in range(config.blocks_per_level):
        x = _block(x, op, width, config.act, f"{prefix}_b{i}")
    return x


def _upsample(x, width: int, config: NoahTCVConfig, name: str):
    if config.up in ("transpose", DEPLOYED_UP):
        return blocks.up(x, width, config.up, name=name)
    x = blocks.up(x, width, config.up, name=name)
    return blocks.conv(x, width, 1, act=None, name=f"{name}_proj")


def _merge(x, skip, width: int, config: NoahTCVConfig, name: str):
    if config.skip == "add":
        return layers.Add(name=name)([x, skip])
    x = layers.Concatenate(name=name)([x, skip])
    return blocks.conv(x, width, 1, act=config.act, name=f"{name}_proj")


@register_model("noahtcv", config=NoahTCVConfig, presets={
    "default": {},
    "tiny": {"widths": (4, 8), "encoder_ops": ("conv3x3", "dilated"), "decoder_ops": ("dwsep",),
             "blocks_per_level": 1},
    "tiny_concat": {"widths": (4, 8, 8), "encoder_ops": ("dwsep", "conv3x3", "dilated"),
                    "decoder_ops": ("conv3x3", "dwsep"), "blocks_per_level": 1,
                    "down": "maxpool", "up": "bilinear", "skip": "concat"},
}, deploy=deploy_learnt_up)
def build_noahtcv(config: NoahTCVConfig, inputs):
    """NOAHTCV: NAS-searched multi-scale encoder-decoder with strong skips (MAI 2021 winner)."""
    x, skips = inputs, []
    for level, width in enumerate(config.widths):
        if level:
            x = blocks.down(x, width, config.down, name=f"enc{level}_down")
        x = _level(x, config.encoder_ops[level], width, config, f"enc{level}")
        skips.append(x)
    for level in reversed(range(len(config.widths) - 1)):
        width = config.widths[level]
        x = _upsample(x, width, config, f"dec{level}_up")
        x = _merge(x, skips[level], width, config, f"dec{level}_skip")
        x = _level(x, config.decoder_ops[level], width, config, f"dec{level}")
    return blocks.residual_output(inputs, x)


def encode(config: NoahTCVConfig) -> str:
    """The compact string naming a search candidate (see module docstring)."""
    return "_".join([
        "w" + "-".join(map(str, config.widths)),
        "e:" + ".".join(OPS[op] for op in config.encoder_ops),
        "d:" + ".".join(OPS[op] for op in config.decoder_ops),
        f"b{config.blocks_per_level}", f"dn:{config.down}", f"up:{config.up}",
        f"sk:{config.skip}", f"a:{config.act}"])


def decode(text: str) -> NoahTCVConfig:
    """Inverse of `encode`; fields left out keep their defaults."""
    short_to_op = {v: k for k, v in OPS.items()}
    values: dict = {}
    try:
        for part in text.split("_"):
            if part.startswith("w"):
                values["widths"] = tuple(int(v) for v in part[1:].split("-"))
            elif part[:2] in ("e:", "d:"):
                key = "encoder_ops" if part[0] == "e" else "decoder_ops"
                values[key] = tuple(short_to_op[v] for v in part[2:].split("."))
            elif part.startswith("b"):
                values["blocks_per_level"] = int(part[1:])
            else:
                key, value = part.split(":")
                values[{"dn": "down", "up": "up", "sk": "skip", "a": "act"}[key]] = value
    except (KeyError, ValueError) as exc:
        raise UserError(f"expected a noahtcv candidate string like "
                        f"{encode(NoahTCVConfig())!r}, received {text!r} ({exc})") from None
    return NoahTCVConfig(**values)
