"""A toy model family: the whole of what adding a model takes (docs/architecture.md).

One module: a frozen config dataclass with its `multiple`, named presets, and a builder that
maps an input tensor to an output tensor, registered by decorator. Training, export (with the
TRANSPOSE_CONV -> DEPTH_TO_SPACE rewrite, through the shared `deploy_learnt_up` hook), the op
audit and `zoo list` then work on it without touching any other file. Its search space is
one more class (`ToySpace`). Importing this module registers both as `toy`; the real families
are listed in `models/registry.py`'s `_FAMILY_MODULES` and `search/space.py`'s `_SPACE_MODULES`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mobiledenoise.models import blocks
from mobiledenoise.models.registry import register_model
from mobiledenoise.models.transforms import deploy_learnt_up
from mobiledenoise.search.space import Space, register_space


@dataclass(frozen=True)
class ToyConfig:
    width: int = 8
    up: str = "transpose"  # transpose | depth_to_space (its exported form)

    @property
    def multiple(self) -> int:
        return 2  # one stride-2 down-sampling


@register_model("toy", config=ToyConfig, presets={"default": {}, "tiny": {"width": 4}},
                deploy=deploy_learnt_up)
def build_toy(config: ToyConfig, inputs):
    """Toy: a conv at half resolution, a learnt 2× up-sampling, a residual output."""
    x = blocks.conv(inputs, config.width, strides=2, name="down")
    x = blocks.conv(x, config.width, name="mid")
    x = blocks.up(x, config.width, config.up, name="up")
    return blocks.residual_output(inputs, x)


# --- its search space: one more small class, registered like the model ----------------------


@register_space
class ToySpace(Space):
    """Candidates like ``w8_up:transpose``: a width from the ladder and the up-sampling."""

    name = model = "toy"
    ladder_widths = (4, 8, 16)

    def encode(self, config: ToyConfig) -> str:
        return f"w{config.width}_up:{config.up}"

    def decode(self, text: str) -> ToyConfig:
        width, up = text.split("_up:")
        return ToyConfig(width=int(width[1:]), up=up)

    def accepts(self, config: ToyConfig) -> bool:
        return config.width >= 1

    def random_config(self, rng) -> ToyConfig:
        return ToyConfig(width=rng.choice(self.ladder), up=rng.choice(("transpose", "bilinear")))

    def change_one(self, config: ToyConfig, rng) -> ToyConfig:
        if rng.random() < 0.5:
            return ToyConfig(width=rng.choice(self.ladder), up=config.up)
        return ToyConfig(width=config.width, up="bilinear" if config.up == "transpose" else "transpose")
