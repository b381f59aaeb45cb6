"""The `moma` search space: `MomaConfig` candidates (widths, depthwise kernel 3 or 5, 1-2
separable convs per level, up-sampling op) in the family's string form, e.g.
``w32-64-96_k3_c2_up:bilinear`` (`models/moma.py` `encode`/`decode`)."""

from __future__ import annotations

import dataclasses
import random

from mobiledenoise.models import moma
from mobiledenoise.search.space import Space, register_space

UPS = ("bilinear", "nearest", "transpose")


@register_space
class MomaSpace(Space):
    name = model = "moma"
    ladder_widths = (16, 24, 32, 48, 64, 96, 128, 160)

    def encode(self, config: moma.MomaConfig) -> str:
        return moma.encode(config)

    def decode(self, text: str) -> moma.MomaConfig:
        return moma.decode(text)

    def random_config(self, rng: random.Random) -> moma.MomaConfig:
        return moma.MomaConfig(widths=self.random_widths(rng), kernel=rng.choice((3, 5)),
                               convs_per_level=rng.randint(1, 2), up=rng.choice(UPS))

    def change_one(self, config: moma.MomaConfig, rng: random.Random):
        choice = rng.choice(("width", "depth", "kernel", "convs", "up"))
        if choice == "width":
            return dataclasses.replace(config, widths=self.step_width(config.widths, rng))
        if choice == "depth":
            return dataclasses.replace(config, widths=self.change_depth(config.widths, rng))
        if choice == "kernel":
            return dataclasses.replace(config, kernel=5 if config.kernel == 3 else 3)
        if choice == "convs":
            return dataclasses.replace(config, convs_per_level=min(max(
                config.convs_per_level + rng.choice((-1, 1)), 1), 3))
        return dataclasses.replace(config, up=rng.choice(UPS))
